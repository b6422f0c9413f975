// socketengine._core: the C++ engine for Python.
//
// This module binds hubs, hosts, clients and connections with snake_case
// names and plain types; socketengine/__init__.py builds the socket.engine
// 0.3 API (names, defaults, `return self`, the `connections` list) on top.
//
// The GIL, in three rules:
//  - Python objects are converted (to JSON values and images) with the GIL
//    held; the engine is then called with the GIL released, so I/O, waits,
//    encoding and close() never stall other Python threads.
//  - Waits are cut into slices; between slices the GIL is taken back and
//    pending signals are checked, so Ctrl-C interrupts a blocking call.
//  - Callbacks run on the engine's callback thread, take the GIL for the call
//    and report an exception as "unraisable" (printed, not fatal). close()
//    drops the Python callables (with the GIL), so a callback that refers to
//    its own hub does not keep it alive in a cycle Python cannot see.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <socketengine/socketengine.hpp>

namespace py = pybind11;
namespace se = socketengine;
using namespace std::chrono_literals;

namespace {

using ms = std::chrono::milliseconds;

// --- values -------------------------------------------------------------------

// Lists and dicts nested deeper than this would be dropped by a receiving
// socketengine (limits::max_depth counts the line's own object too), so they
// are refused here, where the writer hears of it. This also stops a
// self-containing list (json.dumps: "Circular reference detected").
constexpr int max_value_depth = static_cast<int>(se::limits{}.max_depth) - 1;

std::string utf8_of(py::handle s) {
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(s.ptr(), &n);
  if (!p) throw py::error_already_set();
  return {p, static_cast<std::size_t>(n)};
}

// Dictionary keys as json.dumps writes them: strings as they are, numbers,
// booleans and None spelled as JSON.
std::string key_of(py::handle k) {
  if (PyUnicode_Check(k.ptr())) return utf8_of(k);
  if (k.is_none()) return "null";
  if (PyBool_Check(k.ptr())) return k.ptr() == Py_True ? "true" : "false";
  if (PyLong_Check(k.ptr()) || PyFloat_Check(k.ptr())) return utf8_of(py::repr(k));
  throw py::type_error("keys must be str, int, float, bool or None, not " +
                       std::string(py::str(k.get_type().attr("__name__"))));
}

// --- bytes --------------------------------------------------------------------

// Bytes values: bytes, bytearray and memoryview. Anything else with the
// buffer protocol (a NumPy array, array.array) stays "not JSON
// serializable", so that an image is never sent as bytes by mistake.
bool is_bytes_like(py::handle o) {
  PyObject* p = o.ptr();
  return PyBytes_Check(p) || PyByteArray_Check(p) || PyMemoryView_Check(p);
}

// The bytes of a bytes, bytearray or memoryview: those bytes(o) gives (a
// memoryview's raw bytes in C order, whatever its format, shape or strides).
// Taken with the GIL held. A bytes object, which cannot change, is read in
// place (and kept alive); the others are copied, since another thread could
// change them while the engine reads them without the GIL.
class byte_source {
public:
  explicit byte_source(py::handle o) {
    PyObject* p = o.ptr();
    if (PyBytes_Check(p)) {
      keep_ = py::reinterpret_borrow<py::object>(o);
      view_ = {reinterpret_cast<const std::uint8_t*>(PyBytes_AS_STRING(p)),
               static_cast<std::size_t>(PyBytes_GET_SIZE(p))};
      return;
    }
    if (PyByteArray_Check(p)) {
      auto* first = reinterpret_cast<const std::uint8_t*>(PyByteArray_AS_STRING(p));
      copy_.assign(first, first + PyByteArray_GET_SIZE(p));
    } else {
      Py_buffer b;
      if (PyObject_GetBuffer(p, &b, PyBUF_FULL_RO) != 0) throw py::error_already_set();
      try {
        copy_.resize(static_cast<std::size_t>(b.len));
      } catch (...) {
        PyBuffer_Release(&b);
        throw;
      }
      int failed = b.len == 0 ? 0 : PyBuffer_ToContiguous(copy_.data(), &b, b.len, 'C');
      PyBuffer_Release(&b);
      if (failed != 0) throw py::error_already_set();
    }
    view_ = copy_;
  }
  byte_source(const byte_source&) = delete;
  byte_source& operator=(const byte_source&) = delete;

  std::span<const std::uint8_t> bytes() const { return view_; }
  // The bytes as a vector, for a binary value (moved out: call once).
  std::vector<std::uint8_t> take() {
    if (keep_) return {view_.begin(), view_.end()};
    return std::move(copy_);
  }

private:
  py::object keep_; // the bytes object read in place, if it is one
  std::vector<std::uint8_t> copy_;
  std::span<const std::uint8_t> view_;
};

// --- values, continued ------------------------------------------------------------

// Python objects to values. Bytes are a value of their own (a binary
// value) only as the whole value: the engine sends that as a bytes frame
// (as a base64 string to a socket.engine 0.3 peer). Inside a list or dict
// they would be written into JSON as {"bytes": [...], "subtype": null},
// which comes back as a dict, so they are refused there.
se::value to_value(py::handle o, int depth = 0) {
  PyObject* p = o.ptr();
  if (o.is_none()) return nullptr;
  if (PyBool_Check(p)) return p == Py_True;
  if (PyLong_Check(p)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(p, &overflow);
    if (overflow == 0) return static_cast<std::int64_t>(v);
    if (overflow > 0) {
      unsigned long long u = PyLong_AsUnsignedLongLong(p);
      if (!PyErr_Occurred()) return static_cast<std::uint64_t>(u);
      PyErr_Clear();
    }
    throw py::value_error("integer out of the 64-bit range JSON peers can read: " +
                          std::string(py::str(o)));
  }
  if (PyFloat_Check(p)) {
    double d = PyFloat_AS_DOUBLE(p);
    // JSON has no NaN or infinity; json.dumps(allow_nan=False) refuses them
    // with these words rather than send what other peers cannot read.
    if (!std::isfinite(d))
      throw py::value_error("Out of range float values are not JSON compliant: " +
                            std::string(py::str(o)));
    return d;
  }
  if ((PyList_Check(p) || PyTuple_Check(p) || PyDict_Check(p)) && depth >= max_value_depth)
    throw py::value_error("value nested deeper than " + std::to_string(max_value_depth) +
                          " lists and dicts (a peer would drop it), or circular");
  if (PyUnicode_Check(p)) return utf8_of(o);
  if (PyList_Check(p) || PyTuple_Check(p)) {
    se::value a = se::value::array();
    for (py::handle item : o) a.push_back(to_value(item, depth + 1));
    return a;
  }
  if (PyDict_Check(p)) {
    se::value obj = se::value::object();
    for (auto [k, v] : py::reinterpret_borrow<py::dict>(o)) obj[key_of(k)] = to_value(v, depth + 1);
    return obj;
  }
  if (is_bytes_like(o)) {
    if (depth > 0)
      throw py::type_error(std::string(py::str(o.get_type().attr("__name__"))) +
                           " inside a list or dict cannot be sent: bytes go only as a whole "
                           "value (send them on a channel of their own, or base64-encode them)");
    return se::value::binary(byte_source(o).take());
  }
  throw py::type_error("Object of type " + std::string(py::str(o.get_type().attr("__name__"))) +
                       " is not JSON serializable");
}

py::object from_value(const se::value& v) {
  using t = se::value::value_t;
  switch (v.type()) {
  case t::null:
  case t::discarded: return py::none();
  case t::boolean: return py::bool_(v.get<bool>());
  case t::number_integer: return py::int_(v.get<std::int64_t>());
  case t::number_unsigned: return py::int_(v.get<std::uint64_t>());
  case t::number_float: return py::float_(v.get<double>());
  case t::string: {
    const auto& s = v.get_ref<const std::string&>();
    // "surrogatepass" gives back the lone surrogates json.loads would.
    PyObject* u = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogatepass");
    if (!u) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(u);
  }
  case t::array: {
    py::list l(v.size());
    std::size_t i = 0;
    for (const auto& item : v) l[i++] = from_value(item);
    return l;
  }
  case t::object: {
    py::dict d;
    for (const auto& [k, item] : v.items()) d[py::str(k)] = from_value(item);
    return d;
  }
  case t::binary: {
    const auto& b = v.get_binary();
    return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
  }
  }
  return py::none();
}

py::list from_values(const std::vector<se::value>& vs) {
  py::list l(vs.size());
  for (std::size_t i = 0; i < vs.size(); ++i) l[i] = from_value(vs[i]);
  return l;
}

py::object from_optional(const std::optional<se::value>& v) {
  return v ? from_value(*v) : py::none();
}

// --- images -------------------------------------------------------------------

// --- arrays the engine reads in place -------------------------------------------

// writeImg(..., copy=False) hands the engine the caller's array itself. The
// engine may hold it past the call (a raw frame in flight), and lets go on
// whichever thread it is on, where taking the GIL could deadlock with a
// Python thread that holds it and waits for an engine lock. So the array's
// reference is put on a queue and released with the GIL: by the next call
// that hands over an array, or by a pending call Python runs on the main
// thread soon after.
//
// While the engine holds an array it is made read-only (flags.writeable =
// False), so a write through it raises instead of changing a frame on its
// way; the flag comes back when the last hold of that array ends.
struct held_arrays {
  std::mutex mu;                  // guards `released` and `drain_scheduled`
  std::vector<PyObject*> released; // let go by the engine, to be decref'd
  bool drain_scheduled = false;
  // With the GIL: holds per array, and whether this module cleared its
  // writeable flag (and so must set it back).
  std::unordered_map<PyObject*, std::pair<int, bool>> holds;
};

held_arrays& arrays() {
  static auto* a = new held_arrays; // never destroyed: engines may let go during exit
  return *a;
}

// With the GIL.
void drain_released() {
  std::vector<PyObject*> done;
  {
    std::lock_guard lk(arrays().mu);
    done.swap(arrays().released);
    arrays().drain_scheduled = false;
  }
  for (PyObject* p : done) {
    auto it = arrays().holds.find(p);
    if (it != arrays().holds.end() && --it->second.first == 0) {
      if (it->second.second) {
        try {
          py::handle(p).attr("flags").attr("writeable") = true;
        } catch (py::error_already_set&) {
          // A base made read-only meanwhile: the array stays so.
        }
      }
      arrays().holds.erase(it);
    }
    Py_DECREF(p);
  }
}

int drain_pending(void*) {
  drain_released();
  return 0;
}

// Any thread, without the GIL.
void release_later(PyObject* p) {
  if (!Py_IsInitialized()) return; // the interpreter is gone: nothing to release into
  bool schedule = false;
  {
    std::lock_guard lk(arrays().mu);
    arrays().released.push_back(p);
    schedule = !arrays().drain_scheduled;
    arrays().drain_scheduled = true;
  }
  // Py_AddPendingCall takes no GIL; if its queue is full, the next hand-over drains.
  if (schedule && Py_AddPendingCall(&drain_pending, nullptr) != 0) {
    std::lock_guard lk(arrays().mu);
    arrays().drain_scheduled = false;
  }
}

// With the GIL: the engine holds `a` from now until the owner returned lets go.
std::shared_ptr<const void> hold(const py::array& a) {
  drain_released();
  PyObject* p = a.ptr();
  auto& h = arrays().holds[p];
  if (h.first++ == 0) {
    h.second = a.writeable();
    if (h.second) a.attr("flags").attr("writeable") = false;
  }
  Py_INCREF(p);
  return std::shared_ptr<const void>(p, [](PyObject* q) { release_later(q); });
}

// A NumPy array as an image: uint8, HxW (gray), HxWx1 (gray), HxWx3 (BGR) or
// HxWx4 (BGRA), as OpenCV reads them. By default the pixels are copied (with
// the GIL held) so that encoding can run without it while Python may change
// or free the array. With `copy` false the engine reads the array where it
// is, holding it (read-only) until it is done: see hold(). Either way the
// image is the engine's alone to read, so every write hands it over with
// share_pixels: a raw frame is then sent from it without a second copy.
se::image to_image(py::handle o, bool copy = true) {
  if (!py::isinstance<py::array>(o))
    throw py::type_error("an image must be a numpy.ndarray, not " +
                         std::string(py::str(o.get_type().attr("__name__"))));
  auto a = py::reinterpret_borrow<py::array>(o);
  if (a.dtype().kind() != 'u' || a.dtype().itemsize() != 1)
    throw py::type_error("an image must have dtype uint8, not " + std::string(py::str(a.dtype())));
  auto dims = a.ndim();
  int channels = dims == 2 ? 1 : dims == 3 ? static_cast<int>(a.shape(2)) : 0;
  if (channels != 1 && channels != 3 && channels != 4)
    throw py::value_error("an image must be HxW, HxWx1, HxWx3 (BGR) or HxWx4 (BGRA), not shape " +
                          std::string(py::str(a.attr("shape"))));
  if (a.shape(0) == 0 || a.shape(1) == 0 || a.shape(0) > UINT32_MAX || a.shape(1) > UINT32_MAX)
    throw py::value_error("an image must have at least one pixel, not shape " +
                          std::string(py::str(a.attr("shape"))));
  auto order = channels == 1 ? se::pixel_order::gray
               : channels == 3 ? se::pixel_order::bgr
                               : se::pixel_order::bgra;
  auto width = static_cast<std::uint32_t>(a.shape(1));
  auto height = static_cast<std::uint32_t>(a.shape(0));
  if (!copy) {
    if (!(a.flags() & py::array::c_style))
      throw py::value_error("copy=False needs a C-contiguous array (numpy.ascontiguousarray), "
                            "which this one is not");
    auto* pixels = static_cast<std::uint8_t*>(const_cast<void*>(a.data()));
    return se::image::wrap(width, height, order, pixels, hold(a));
  }
  auto c = py::array_t<std::uint8_t, py::array::c_style>::ensure(a);
  if (!c) { // ensure() swallowed the reason: most likely no memory for the copy
    PyErr_NoMemory();
    throw py::error_already_set();
  }
  return se::image(width, height, order, {c.data(), static_cast<std::size_t>(c.size())});
}

// An image as a NumPy array in OpenCV's order, as Python's images always
// are. PNG and JPEG decode to BGR(A) already, and so do most raw frames:
// the array is then a view of the engine's own pixels, which a capsule
// holding the image keeps alive as long as the array (the engine never
// writes a frame's pixels once it is received). A raw frame sent as RGB(A)
// is swapped into an array of its own.
py::object from_image(const se::image& img) {
  std::vector<py::ssize_t> shape{img.height(), img.width()};
  if (img.channels() > 1) shape.push_back(img.channels());
  if (img.order() == se::pixel_order::rgb || img.order() == se::pixel_order::rgba) {
    py::array_t<std::uint8_t> a(shape);
    auto* to = a.mutable_data();
    const auto* from = img.data();
    const auto step = static_cast<std::size_t>(img.channels());
    for (std::size_t i = 0, n = img.size_bytes(); i < n; i += step) {
      to[i] = from[i + 2];
      to[i + 1] = from[i + 1];
      to[i + 2] = from[i];
      if (step == 4) to[i + 3] = from[i + 3];
    }
    return a;
  }
  auto* kept = new se::image(img); // shares the pixels
  py::capsule owner(kept, [](void* p) { delete static_cast<se::image*>(p); });
  return py::array_t<std::uint8_t>(shape, const_cast<std::uint8_t*>(kept->data()), owner);
}

py::object from_optional_image(const std::optional<se::image>& img) {
  return img ? from_image(*img) : py::none();
}

const char* status_name(se::image_status s) {
  switch (s) {
  case se::image_status::sent: return "sent";
  case se::image_status::pending: return "pending";
  case se::image_status::dropped: return "dropped";
  }
  return "unknown";
}

// --- the GIL, time and interruptible waits --------------------------------------

// Releases the GIL for its scope, like py::gil_scoped_release, except that
// taking it back may end the thread: during interpreter exit Python ends a
// daemon thread that asks for the GIL with pthread_exit, whose unwinding
// must pass through this destructor (a noexcept one, as pybind11's, turns
// it into std::terminate and aborts the process).
class without_gil {
public:
  without_gil() : state_(PyEval_SaveThread()) {}
  ~without_gil() noexcept(false) { PyEval_RestoreThread(state_); }
  without_gil(const without_gil&) = delete;
  without_gil& operator=(const without_gil&) = delete;

private:
  PyThreadState* state_;
};

ms to_ms(double seconds) {
  if (!(seconds >= 0)) throw py::value_error("a timeout must be a number of seconds >= 0");
  if (seconds > 1e9) return ms::max();
  return ms(static_cast<ms::rep>(std::ceil(seconds * 1000.0)));
}

// Long enough to cost nothing, short enough that Ctrl-C feels immediate.
constexpr ms slice{50};

// A deadline `timeout_s` seconds from now; None (or more than 1e9 s, which
// would overflow the clock) means none.
std::chrono::steady_clock::time_point deadline_in(std::optional<double> timeout_s) {
  if (!timeout_s || to_ms(*timeout_s) == ms::max()) return std::chrono::steady_clock::time_point::max();
  return std::chrono::steady_clock::now() + to_ms(*timeout_s);
}

// Calls `attempt(slice_length)` with the GIL released until it returns a
// value (non-empty), `finished()` says no value can come any more (the
// connection or engine closed), `timeout_s` seconds pass (None: forever) or
// a signal handler raises (KeyboardInterrupt). Returns the last result.
template <class F, class Finished>
auto interruptible(std::optional<double> timeout_s, F&& attempt, Finished&& finished)
    -> decltype(attempt(slice)) {
  auto deadline = deadline_in(timeout_s);
  for (;;) {
    auto left = std::max(ms(0), std::chrono::duration_cast<ms>(
                                    deadline - std::min(deadline, std::chrono::steady_clock::now())));
    decltype(attempt(slice)) result;
    {
      without_gil nogil;
      result = attempt(std::min(left, slice));
    }
    if (result || finished() || std::chrono::steady_clock::now() >= deadline) return result;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  }
}

// --- callbacks ----------------------------------------------------------------

// A Python callable an engine calls. The engine's handler shares it with
// the wrapper (py_engine), which clears `fn` under the GIL on close(); a
// handler still queued then finds it empty and does nothing. Neither side
// ever touches `fn` without the GIL, wherever the last owner lets go.
struct py_callback {
  PyObject* fn; // a strong reference until close() clears it

  explicit py_callback(py::object f) : fn(f.release().ptr()) {}
  py_callback(const py_callback&) = delete;
  py_callback& operator=(const py_callback&) = delete;
  // Not cleared here: this may run on any thread, without the GIL; close()
  // (which the wrapper's destructor calls) has cleared it already.
  ~py_callback() = default;
};

// Keeps the calling thread's Python thread state for the thread's life.
// pybind11's gil_scoped_acquire, on a thread Python did not start, makes a
// thread state and destroys it again on every call: an engine's callback
// thread, which calls into Python for every value, spent more on that (an
// mmap and munmap each time) than on short callbacks themselves. One extra
// reference taken here keeps it; the thread gives it back as it ends
// (unless the interpreter is already going, which frees them all).
class kept_thread_state {
public:
  kept_thread_state() {
    py::gil_scoped_acquire gil;
    gil.inc_ref();
  }
  ~kept_thread_state() {
    if (!Py_IsInitialized() || _Py_IsFinalizing()) return;
    py::gil_scoped_acquire gil;
    gil.dec_ref(); // this scope's own release then destroys the state
  }
  kept_thread_state(const kept_thread_state&) = delete;
  kept_thread_state& operator=(const kept_thread_state&) = delete;
};

// Runs on the engine's callback thread.
template <class... Args>
void call_python(const py_callback& cb, Args&&... make_args) {
  static thread_local kept_thread_state kept;
  py::gil_scoped_acquire gil;
  if (!cb.fn) return; // closed meanwhile
  auto f = py::reinterpret_borrow<py::object>(cb.fn);
  try {
    f(std::forward<Args>(make_args)()...);
  } catch (py::error_already_set& e) {
    e.discard_as_unraisable(f);
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    PyErr_WriteUnraisable(f.ptr());
  }
}

// --- engines ------------------------------------------------------------------

// What Python sees of a hub, host or client: the engine, the callbacks it
// calls, and a close() that lets go of the GIL while threads are joined.
template <class Engine>
struct py_engine {
  std::unique_ptr<Engine> e;
  std::vector<std::shared_ptr<py_callback>> callbacks; // touched with the GIL

  explicit py_engine(std::unique_ptr<Engine> engine) : e(std::move(engine)) {}
  py_engine(const py_engine&) = delete;
  py_engine& operator=(const py_engine&) = delete;

  ~py_engine() {
    // Called by Python's garbage collector with the GIL held: close first
    // without it (the callback thread may be waiting for the GIL), then drop
    // the callables with it.
    close();
  }

  Engine& get() { return *e; } // never null: made by the factories below

  void close() {
    // The callables go first, so that callbacks still queued find nothing to
    // call instead of running (close() would wait for all of them). The one
    // running, if any, holds its own reference.
    for (auto& cb : callbacks) Py_CLEAR(cb->fn);
    callbacks.clear();
    without_gil nogil;
    e->close();
  }

  std::shared_ptr<py_callback> keep(py::object fn) {
    if (!PyCallable_Check(fn.ptr())) throw py::type_error("callback must be callable");
    if (!is_open()) throw std::runtime_error("socketengine: used after close()");
    return callbacks.emplace_back(std::make_shared<py_callback>(std::move(fn)));
  }

  void on(const std::string& channel, py::object fn, bool image) {
    auto f = keep(std::move(fn));
    if (image) {
      get().on_image([f](const std::shared_ptr<se::connection>&, const se::image& img) {
        call_python(*f, [&] { return from_image(img); });
      });
    } else {
      get().on(channel, [f](const std::shared_ptr<se::connection>&, const se::value& v) {
        call_python(*f, [&] { return from_value(v); });
      });
    }
  }

  // Like on(), for values from one connection only.
  void on_connection(const std::shared_ptr<se::connection>& c, const std::string& channel,
                     py::object fn, bool image) {
    auto f = keep(std::move(fn));
    // Compared by owner, not address: a later connection may reuse the
    // address of this one once it is gone.
    std::weak_ptr<se::connection> which = c;
    auto same = [which](const std::shared_ptr<se::connection>& from) {
      return !which.owner_before(from) && !from.owner_before(which);
    };
    if (image) {
      get().on_image([f, same](const std::shared_ptr<se::connection>& from, const se::image& img) {
        if (same(from)) call_python(*f, [&] { return from_image(img); });
      });
    } else {
      get().on(channel, [f, same](const std::shared_ptr<se::connection>& from, const se::value& v) {
        if (same(from)) call_python(*f, [&] { return from_value(v); });
      });
    }
  }

  // callback(connection or None, what, detail): replaces the engine's
  // default report to stderr.
  void on_error(py::object fn) {
    auto f = keep(std::move(fn));
    get().on_error([f](const std::shared_ptr<se::connection>& c, std::error_code ec,
                       const std::string& detail) {
      call_python(
          *f, [&] { return c ? py::cast(c) : py::none(); },
          [&] { return py::str(ec.message()); }, [&] { return py::str(detail); });
    });
  }

  void set_timeout(double seconds) { get().set_timeout(to_ms(seconds)); }
  bool is_open() const { return e->is_open(); }
  std::vector<std::shared_ptr<se::connection>> connections() const { return e->connections(); }

  py::list wait_for_any(const std::string& channel, std::optional<double> timeout) {
    auto& engine = get();
    auto values = interruptible(
        timeout,
        [&](ms t) -> std::optional<std::vector<se::value>> {
          auto v = engine.wait_for(channel, t);
          if (v.empty()) return std::nullopt;
          return v;
        },
        [&] { return !engine.is_open(); });
    return values ? from_values(*values) : py::list();
  }
};

using py_hub = py_engine<se::hub>;
using py_host = py_engine<se::host>;
using py_client = py_engine<se::client>;

// Dials are tried until they succeed, as the seed's were, while refused
// and when the system's own connect timeout passes; other errors (an
// unknown host, an unreachable network) end them.
bool retry_dial(std::error_code ec) {
  return ec == std::errc::connection_refused || ec == std::errc::timed_out;
}

// Keeps a dial going until it connects, fails for good, `timeout_s` passes
// or Ctrl-C: the engine asks `keep_waiting` every 50 ms on this thread, and
// that takes the GIL back briefly to let signal handlers run.
template <class Dial>
void dial_until(std::optional<double> timeout_s, const std::string& what, Dial&& dial) {
  auto deadline = deadline_in(timeout_s);
  bool interrupted = false;
  bool timed_out = false;
  auto keep_waiting = [&] {
    if (std::chrono::steady_clock::now() >= deadline) {
      timed_out = true;
      return false;
    }
    py::gil_scoped_acquire gil;
    interrupted = PyErr_CheckSignals() != 0; // the exception stays set
    return !interrupted;
  };
  for (;;) {
    std::error_code ec;
    {
      without_gil nogil;
      ec = dial(keep_waiting);
    }
    if (interrupted) throw py::error_already_set();
    if (!ec) return;
    if (timed_out) ec = se::errc::connect_timeout;
    else if (retry_dial(ec)) continue;
    throw std::system_error(ec, "socketengine: cannot connect to " + what);
  }
}

// Token authentication's keyword arguments (see socketengine/__init__.py).
struct py_auth {
  std::string token, token_file, token_env;
  bool allow_legacy = false;
};

// TLS's keyword arguments (see socketengine/__init__.py). Passed as they
// are: the engine's constructor checks them (TLS options given while
// `enabled` is false among them) and names the option it refuses.
struct py_tls {
  bool enabled = false;
  std::string certificate_file, private_key_file, ca_file;
  bool verify_peer = true;
  std::string server_name;
  bool require_client_certificate = false;
  std::optional<double> handshake_timeout; // seconds; none: the engine's default
};

// --- engine options from keyword arguments --------------------------------------

// The Python layer passes the keyword arguments a program gave (None left
// out) as a dict: the names are Python's, the checks stricter than the C++
// clamping, so that a typo or an impossible value is an error at once.

se::image_encoding encoding_of(const std::string& name) {
  if (name == "png") return se::image_encoding::png;
  if (name == "jpeg") return se::image_encoding::jpeg;
  if (name == "raw") return se::image_encoding::raw;
  throw py::value_error("image encoding must be 'png', 'jpeg' or 'raw', not '" + name + "'");
}

std::optional<se::image_encoding> encoding_of(const std::optional<std::string>& name) {
  if (!name) return std::nullopt;
  return encoding_of(*name);
}

long long integer_of(py::handle v, const std::string& what, long long low, long long high) {
  if (!PyLong_Check(v.ptr()) || PyBool_Check(v.ptr()))
    throw py::type_error(what + " must be an int, not " +
                         std::string(py::str(v.get_type().attr("__name__"))));
  int overflow = 0;
  long long n = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
  if (overflow != 0 || n < low || n > high)
    throw py::value_error(what + " must be from " + std::to_string(low) + " to " +
                          std::to_string(high) + ", not " + std::string(py::str(v)));
  return n;
}

std::size_t size_of(py::handle v, const std::string& what) {
  return static_cast<std::size_t>(integer_of(v, what, 0, LLONG_MAX));
}

ms duration_of(py::handle v, const std::string& what) {
  if ((!PyLong_Check(v.ptr()) && !PyFloat_Check(v.ptr())) || PyBool_Check(v.ptr()))
    throw py::type_error(what + " must be a number of seconds, not " +
                         std::string(py::str(v.get_type().attr("__name__"))));
  double seconds = v.cast<double>();
  if (!(seconds >= 0)) throw py::value_error(what + " must be a number of seconds >= 0");
  return to_ms(seconds);
}

se::overflow_policy policy_of(py::handle v) {
  auto name = py::isinstance<py::str>(v) ? v.cast<std::string>() : std::string();
  if (name == "conflate") return se::overflow_policy::conflate;
  if (name == "block") return se::overflow_policy::block;
  if (name == "fail") return se::overflow_policy::fail;
  if (name == "disconnect") return se::overflow_policy::disconnect;
  throw py::value_error("limits['on_full_queue'] must be 'conflate', 'block', 'fail' or "
                        "'disconnect', not " + std::string(py::repr(v)));
}

// limits={...}: the fields of the C++ limits struct, by the same names;
// durations in seconds.
void apply_limits(se::limits& l, const py::dict& d) {
  for (auto [k, v] : d) {
    auto key = py::str(k).cast<std::string>();
    auto what = "limits['" + key + "']";
    if (key == "max_line_bytes") l.max_line_bytes = size_of(v, what);
    else if (key == "max_depth") l.max_depth = size_of(v, what);
    else if (key == "max_channels") l.max_channels = size_of(v, what);
    else if (key == "max_write_queue_bytes") l.max_write_queue_bytes = size_of(v, what);
    else if (key == "on_full_queue") l.on_full_queue = policy_of(v);
    else if (key == "slow_peer_timeout") l.slow_peer_timeout = duration_of(v, what);
    else if (key == "max_pending_callbacks") l.max_pending_callbacks = size_of(v, what);
    else if (key == "max_pending_callback_bytes") l.max_pending_callback_bytes = size_of(v, what);
    else if (key == "max_closed_connections") l.max_closed_connections = size_of(v, what);
    else if (key == "max_receive_bytes") l.max_receive_bytes = size_of(v, what);
    else if (key == "min_receive_rate") l.min_receive_rate = size_of(v, what);
    else if (key == "receive_grace") l.receive_grace = duration_of(v, what);
    else if (key == "identify_timeout") l.identify_timeout = duration_of(v, what);
    else if (key == "max_unidentified") l.max_unidentified = size_of(v, what);
    else
      throw py::type_error(
          "unknown limit '" + key + "'; the limits are max_line_bytes, max_depth, max_channels, "
          "max_write_queue_bytes, on_full_queue, slow_peer_timeout, max_pending_callbacks, "
          "max_pending_callback_bytes, max_closed_connections, max_receive_bytes, "
          "min_receive_rate, receive_grace, identify_timeout and max_unidentified");
  }
}

template <class Options>
void apply_options(Options& o, const py::dict& d) {
  for (auto [k, v] : d) {
    auto key = py::str(k).cast<std::string>();
    if (key == "native") o.native = py::cast<bool>(v);
    else if (key == "image_encoding") {
      if (!py::isinstance<py::str>(v))
        throw py::type_error("image_encoding must be 'png', 'jpeg' or 'raw'");
      o.images.encoding = encoding_of(py::cast<std::string>(v));
    } else if (key == "jpeg_quality")
      o.images.jpeg_quality = static_cast<int>(integer_of(v, key, 1, 100));
    else if (key == "png_compression")
      o.images.png_compression = static_cast<int>(integer_of(v, key, 0, 9));
    else if (key == "frames_in_flight")
      o.images.max_frames_in_flight = static_cast<int>(integer_of(v, key, 1, 1 << 16));
    else if (key == "latest_frame_wins") o.images.latest_frame_wins = py::cast<bool>(v);
    else if (key == "max_pixels")
      o.images.max_pixels = static_cast<std::uint64_t>(integer_of(v, key, 1, LLONG_MAX));
    else if (key == "limits") {
      if (!py::isinstance<py::dict>(v))
        throw py::type_error("limits must be a dict, such as {'max_channels': 100000}");
      apply_limits(o.limits, py::reinterpret_borrow<py::dict>(v));
    } else
      throw py::type_error("unknown option '" + key + "'");
  }
}

template <class Options>
Options engine_options(double timeout, std::size_t size, const py_auth& auth, const py_tls& tls,
                       const py::dict& options) {
  Options o;
  apply_options(o, options);
  o.timeout = to_ms(timeout);
  o.read_size = size;
  o.auth.token = auth.token;
  o.auth.token_file = auth.token_file;
  o.auth.token_env = auth.token_env;
  o.auth.allow_legacy = auth.allow_legacy;
  o.tls.enabled = tls.enabled;
  o.tls.certificate_file = tls.certificate_file;
  o.tls.private_key_file = tls.private_key_file;
  o.tls.ca_file = tls.ca_file;
  o.tls.verify_peer = tls.verify_peer;
  o.tls.server_name = tls.server_name;
  o.tls.require_client_certificate = tls.require_client_certificate;
  if (tls.handshake_timeout) o.tls.handshake_timeout = to_ms(*tls.handshake_timeout);
  return o;
}

std::unique_ptr<py_hub> make_hub(std::optional<std::uint16_t> port, double timeout,
                                 std::size_t size, bool listen,
                                 std::vector<std::string> listen_on,
                                 std::optional<std::uint32_t> socket_file_mode, bool reconnect,
                                 const py_auth& auth, const py_tls& tls, const py::dict& options,
                                 const std::string& name, bool discovery) {
  auto o = engine_options<se::hub_options>(timeout, size, auth, tls, options);
  o.name = name;
  o.discovery.enabled = discovery;
  o.reconnect.enabled = reconnect;
  o.port = port;
  o.listen = listen;
  o.listen_on = std::move(listen_on);
  o.socket_file_mode = socket_file_mode;
  o.connect_timeout = ms::max(); // bounded by dial_until
  std::unique_ptr<se::hub> h;
  {
    without_gil nogil;
    h = std::make_unique<se::hub>(o);
  }
  return std::make_unique<py_hub>(std::move(h));
}

std::shared_ptr<se::connection> hub_connect(py_hub& self, const std::string& name,
                                            const std::string& address, std::uint16_t port,
                                            std::optional<double> timeout) {
  auto& h = self.get();
  std::shared_ptr<se::connection> c;
  // A unix: endpoint has no port.
  dial_until(timeout, port == 0 ? address : address + " port " + std::to_string(port),
             [&](const std::function<bool()>& keep_waiting) {
               std::error_code ec;
               c = h.connect(name, address, port, ec, keep_waiting);
               return ec;
             });
  return c;
}

// Discovery's keyword arguments (see socketengine/__init__.py).
se::discover_options discover_options_of(double timeout, const std::string& name,
                                         std::vector<std::string> peers,
                                         std::vector<std::string> interfaces, bool multicast) {
  se::discover_options o;
  o.timeout = to_ms(timeout);
  o.name = name;
  o.peers = std::move(peers);
  o.interfaces = std::move(interfaces);
  o.multicast = multicast;
  return o;
}

py::list discover_hubs(double timeout, const std::string& name, std::vector<std::string> peers,
                       std::vector<std::string> interfaces, bool multicast) {
  auto o = discover_options_of(timeout, name, std::move(peers), std::move(interfaces), multicast);
  std::vector<se::discovered_hub> found;
  {
    without_gil nogil;
    found = se::discover(o);
  }
  py::list out;
  for (const auto& h : found) {
    py::dict d;
    d["name"] = h.name;
    d["id"] = h.id;
    d["port"] = h.port;
    d["addresses"] = h.addresses;
    d["protocol"] = h.protocol;
    d["tls"] = h.tls;
    d["token"] = h.token;
    d["from"] = h.from;
    out.append(std::move(d));
  }
  return out;
}

void hub_connect_by_name(py_hub& self, const std::string& name, double timeout,
                         std::vector<std::string> peers, std::vector<std::string> interfaces,
                         bool multicast, std::optional<double> attempt_timeout) {
  auto o = discover_options_of(timeout, name, std::move(peers), std::move(interfaces), multicast);
  if (attempt_timeout) o.attempt_timeout = to_ms(*attempt_timeout);
  auto& h = self.get();
  std::error_code ec;
  {
    without_gil nogil;
    h.connect_by_name(name, ec, o);
  }
  if (ec)
    throw std::system_error(ec, "socketengine: cannot connect to the hub named \"" + name + "\"");
}

std::unique_ptr<py_host> make_host(const std::string& address, std::uint16_t port, double timeout,
                                   std::size_t size, bool open, const py_auth& auth,
                                   const py_tls& tls, const py::dict& options) {
  auto o = engine_options<se::host_options>(timeout, size, auth, tls, options);
  o.address = address;
  o.port = port;
  o.open = open;
  std::unique_ptr<se::host> h;
  {
    without_gil nogil;
    h = std::make_unique<se::host>(o);
  }
  return std::make_unique<py_host>(std::move(h));
}

std::unique_ptr<py_client> make_client(const std::string& address, std::uint16_t port,
                                       double timeout, std::size_t size, bool reconnect,
                                       const py_auth& auth, const py_tls& tls,
                                       const py::dict& options) {
  auto o = engine_options<se::client_options>(timeout, size, auth, tls, options);
  o.reconnect.enabled = reconnect;
  o.address = address;
  o.port = port;
  o.open = false; // opened by client_open, which Ctrl-C can interrupt
  o.connect_timeout = ms::max(); // bounded by dial_until
  std::unique_ptr<se::client> c;
  {
    without_gil nogil;
    c = std::make_unique<se::client>(o);
  }
  return std::make_unique<py_client>(std::move(c));
}

void client_open(py_client& self, std::optional<double> timeout) {
  auto& c = self.get();
  dial_until(timeout, "the host", [&](const std::function<bool()>& keep_waiting) {
    try {
      c.open(keep_waiting);
      return std::error_code();
    } catch (const std::system_error& e) {
      return e.code();
    }
  });
}

// listen() on a hub or host, with the GIL released: it waits for the I/O
// thread.
template <class Engine>
void engine_listen(Engine& self, const std::string& endpoint,
                   std::optional<std::uint32_t> socket_file_mode) {
  auto& e = self.get();
  without_gil nogil;
  if (socket_file_mode)
    e.listen(endpoint, *socket_file_mode);
  else
    e.listen(endpoint);
}

// --- asyncio ---

// What socketengine.aio wakes its waiters with, called on the callback
// thread with the connection concerned: "value" (each value on `channel`),
// "image" (each image), "connect" and "disconnect". The value itself is not
// passed: a waiter reads the latest, so nothing is converted that nobody
// waits for.
template <class Engine>
void on_event(py_engine<Engine>& self, const std::string& event, py::object fn,
              const std::string& channel) {
  auto f = self.keep(std::move(fn));
  auto call = [f](const std::shared_ptr<se::connection>& c) { call_python(*f, [&] { return c; }); };
  auto& e = self.get();
  if (event == "value")
    e.on(channel, [call](const std::shared_ptr<se::connection>& c, const se::value&) { call(c); });
  else if (event == "image")
    e.on_image([call](const std::shared_ptr<se::connection>& c, const se::image&) { call(c); });
  else if (event == "connect")
    e.on_connect(call);
  else if (event == "disconnect")
    e.on_disconnect(call);
  else
    throw py::value_error("unknown event: " + event);
}

// --- connections ----------------------------------------------------------------

// Bytes skip the value: write_bytes reads them where they are (a bytes
// object) or from the one copy byte_source made.
void connection_write(se::connection& c, const std::string& channel, py::handle data) {
  if (is_bytes_like(data)) {
    byte_source b(data);
    without_gil nogil;
    c.write_bytes(channel, b.bytes());
    return;
  }
  auto v = to_value(data);
  without_gil nogil;
  c.write(channel, v);
}

const char* connection_write_image(se::connection& c, py::handle data,
                                   const std::optional<std::string>& encoding, bool copy) {
  auto how = encoding_of(encoding);
  auto img = to_image(data, copy);
  without_gil nogil; // encoding happens here
  return status_name(how ? c.write_image(img, *how, se::share_pixels)
                         : c.write_image(img, se::share_pixels));
}

py::object connection_wait_for(se::connection& c, const std::string& channel,
                               std::optional<double> timeout) {
  auto v = interruptible(
      timeout, [&](ms t) { return c.wait_for(channel, t); }, [&] { return !c.is_open(); });
  return from_optional(v);
}

// `since` (a version() taken before sending a request) makes a reply that
// arrives before this call count; without it, only values after the call do.
py::object connection_wait_for_next(se::connection& c, const std::string& channel,
                                    std::optional<double> timeout,
                                    std::optional<std::uint64_t> since_version) {
  auto since = since_version ? *since_version : c.version(channel);
  auto v = interruptible(
      timeout, [&](ms t) { return c.wait_for_next(channel, t, since); },
      [&] { return !c.is_open(); });
  return from_optional(v);
}

py::object connection_wait_for_image(se::connection& c, std::optional<double> timeout,
                                     bool next) {
  auto since = next ? c.image_version() : 0;
  auto img = interruptible(
      timeout, [&](ms t) { return next ? c.wait_for_next_image(t, since) : c.wait_for_image(t); },
      [&] { return !c.is_open(); });
  return from_optional_image(img);
}

// --- writes as the seed has them -------------------------------------------------

// The seed's writes return the engine itself (for chaining). They are the
// hot path of most programs, so they are native methods of the classes the
// Python API derives from: no Python frame between the call and the engine.
// The value is converted with the GIL; the write runs without it.
template <class Engine, class F>
std::size_t write_value(py::object self, py::handle data, F&& write) {
  auto& e = self.cast<py_engine<Engine>&>().get();
  auto v = to_value(data);
  without_gil nogil;
  return write(e, v); // how many connections took it, as the C++ call says
}

template <class Engine, class F>
std::size_t write_image(py::object self, py::handle data, bool copy, F&& write) {
  auto& e = self.cast<py_engine<Engine>&>().get();
  auto img = to_image(data, copy);
  without_gil nogil; // PNG encoding happens here
  return write(e, img);
}

} // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "The socketengine C++ engine. Use the socketengine package, not this module.";

  m.def("discover", &discover_hubs, py::arg("timeout"), py::arg("name"), py::arg("peers"),
        py::arg("interfaces"), py::arg("multicast"));

  py::class_<py_auth>(m, "Auth")
      .def(py::init([](std::string token, std::string token_file, std::string token_env,
                       bool allow_legacy) {
             return py_auth{std::move(token), std::move(token_file), std::move(token_env),
                            allow_legacy};
           }),
           py::arg("token") = "", py::arg("token_file") = "", py::arg("token_env") = "",
           py::arg("allow_legacy") = false);

  py::class_<py_tls>(m, "Tls")
      .def(py::init([](bool enabled, std::string certificate_file, std::string private_key_file,
                       std::string ca_file, bool verify_peer, std::string server_name,
                       bool require_client_certificate, std::optional<double> handshake_timeout) {
             return py_tls{enabled,
                           std::move(certificate_file),
                           std::move(private_key_file),
                           std::move(ca_file),
                           verify_peer,
                           std::move(server_name),
                           require_client_certificate,
                           handshake_timeout};
           }),
           py::arg("enabled") = false, py::arg("certificate_file") = "",
           py::arg("private_key_file") = "", py::arg("ca_file") = "",
           py::arg("verify_peer") = true, py::arg("server_name") = "",
           py::arg("require_client_certificate") = false,
           py::arg("handshake_timeout") = py::none());

  py::class_<se::connection, std::shared_ptr<se::connection>>(m, "Connection")
      .def("get", [](const se::connection& c, const std::string& ch) { return from_optional(c.get(ch)); })
      .def("version", &se::connection::version)
      .def("state",
           [](const se::connection& c) {
             switch (c.state()) {
             case se::link_state::connected: return "connected";
             case se::link_state::reconnecting: return "reconnecting";
             case se::link_state::closing: return "closing";
             case se::link_state::closed: break;
             }
             return "closed";
           })
      .def("write", &connection_write)
      .def("write_image", &connection_write_image, py::arg("data"), py::kw_only(),
           py::arg("encoding") = py::none(), py::arg("copy") = true)
      .def("can_write_image", &se::connection::can_write_image)
      .def(
          "wait_for_image_slot",
          [](const se::connection& c, std::optional<double> timeout) {
            return interruptible(
                timeout, [&](ms t) { return c.wait_for_image_slot(t); },
                [&] { return !c.is_open(); });
          },
          py::arg("timeout") = py::none())
      .def("get_image", [](const se::connection& c) { return from_optional_image(c.get_image()); })
      .def("image_version", &se::connection::image_version)
      .def("wait_for", &connection_wait_for, py::arg("channel"), py::arg("timeout") = py::none())
      .def("wait_for_next", &connection_wait_for_next, py::arg("channel"),
           py::arg("timeout") = py::none(), py::arg("since") = py::none())
      .def("wait_for_image", &connection_wait_for_image, py::arg("timeout") = py::none(),
           py::arg("next") = false)
      .def("flush",
           [](se::connection& c, double timeout) {
             without_gil nogil;
             return c.flush(to_ms(timeout));
           })
      .def("close",
           [](se::connection& c) {
             without_gil nogil;
             c.close();
           })
      .def("is_open", &se::connection::is_open)
      .def("is_native", &se::connection::is_native)
      .def("close_reason",
           [](const se::connection& c) {
             auto ec = c.close_reason();
             return ec ? py::object(py::str(ec.message())) : py::object(py::none());
           })
      .def("name", &se::connection::name)
      .def("address", &se::connection::address)
      .def("port", &se::connection::port)
      .def("kind", [](const se::connection& c) { return static_cast<int>(c.kind()); })
      .def("stats", [](const se::connection& c) {
        auto s = c.stats();
        py::dict d;
        d["messages_in"] = s.messages_in;
        d["messages_out"] = s.messages_out;
        d["bytes_in"] = s.bytes_in;
        d["bytes_out"] = s.bytes_out;
        d["errors"] = s.errors;
        return d;
      });

  // Names shared with the seed (get_all, write_all, ...) behave as the seed's;
  // the others (dial, bound_port, connection_list, on_channel) are for the
  // Python layer, which gives the seed's names to what differs.
  py::class_<py_hub>(m, "Hub")
      .def(py::init(&make_hub), py::arg("port"), py::arg("timeout"), py::arg("size"),
           py::arg("listen") = true, py::arg("listen_on") = std::vector<std::string>(),
           py::arg("socket_file_mode") = py::none(), py::arg("reconnect") = false,
           py::arg("auth") = py_auth{}, py::arg("tls") = py_tls{}, py::arg("options") = py::dict(),
           py::arg("name") = std::string(), py::arg("discovery") = true)
      .def("bound_port", [](py_hub& h) { return h.get().port(); })
      .def("hub_name", [](py_hub& h) { return h.get().name(); })
      .def("hub_id", [](py_hub& h) { return h.get().id(); })
      .def("is_discoverable", [](py_hub& h) { return h.get().discoverable(); })
      .def("dial_by_name", &hub_connect_by_name, py::arg("name"), py::arg("timeout"),
           py::arg("peers"), py::arg("interfaces"), py::arg("multicast"),
           py::arg("attempt_timeout") = py::none())
      .def("listen_at", &engine_listen<py_hub>, py::arg("endpoint"),
           py::arg("socket_file_mode") = py::none())
      .def("dial", &hub_connect, py::arg("name"), py::arg("address"), py::arg("port"),
           py::arg("timeout") = py::none())
      .def("connection_list", &py_hub::connections)
      .def("get_all", [](py_hub& h, const std::string& ch) { return from_values(h.get().get_all(ch)); })
      .def("get_by_name",
           [](py_hub& h, const std::string& name, const std::string& ch) {
             return from_values(h.get().get_by_name(name, ch));
           })
      .def("get_local", [](py_hub& h, const std::string& ch) { return from_values(h.get().get_local(ch)); })
      .def("get_remote", [](py_hub& h, const std::string& ch) { return from_values(h.get().get_remote(ch)); })
      .def("wait_for", &py_hub::wait_for_any, py::arg("channel"), py::arg("timeout") = py::none())
      .def("write_all",
           [](py::object self, const std::string& ch, py::handle data) {
             return write_value<se::hub>(self, data, [&](se::hub& h, const se::value& v) { return h.write_all(ch, v); });
           })
      .def("write_to_name",
           [](py::object self, const std::string& name, const std::string& ch, py::handle data) {
             return write_value<se::hub>(self, data, [&](se::hub& h, const se::value& v) {
               return h.write_to_name(name, ch, v);
             });
           })
      .def("write_to_local",
           [](py::object self, const std::string& ch, py::handle data) {
             return write_value<se::hub>(self, data, [&](se::hub& h, const se::value& v) { return h.write_to_local(ch, v); });
           })
      .def("write_to_remote",
           [](py::object self, const std::string& ch, py::handle data) {
             return write_value<se::hub>(self, data, [&](se::hub& h, const se::value& v) { return h.write_to_remote(ch, v); });
           })
      .def("write_image_all",
           [](py::object self, py::handle data, bool copy) {
             return write_image<se::hub>(self, data, copy, [](se::hub& h, const se::image& i) { return h.write_image_all(i, se::share_pixels); });
           },
           py::arg("data"), py::kw_only(), py::arg("copy") = true)
      .def("write_image_to_name",
           [](py::object self, const std::string& name, py::handle data, bool copy) {
             return write_image<se::hub>(self, data, copy, [&](se::hub& h, const se::image& i) {
               return h.write_image_to_name(name, i, se::share_pixels);
             });
           },
           py::arg("name"), py::arg("data"), py::kw_only(), py::arg("copy") = true)
      .def("write_image_to_local",
           [](py::object self, py::handle data, bool copy) {
             return write_image<se::hub>(self, data, copy, [](se::hub& h, const se::image& i) { return h.write_image_to_local(i, se::share_pixels); });
           },
           py::arg("data"), py::kw_only(), py::arg("copy") = true)
      .def("write_image_to_remote",
           [](py::object self, py::handle data, bool copy) {
             return write_image<se::hub>(self, data, copy, [](se::hub& h, const se::image& i) { return h.write_image_to_remote(i, se::share_pixels); });
           },
           py::arg("data"), py::kw_only(), py::arg("copy") = true)
      .def("on_channel", &py_hub::on, py::arg("channel"), py::arg("callback"), py::arg("image") = false)
      .def("on_connection", &py_hub::on_connection)
      .def("on_event", &on_event<se::hub>, py::arg("event"), py::arg("callback"),
           py::arg("channel") = "") // asyncio
      .def("on_error_native", &py_hub::on_error, py::arg("callback"))
      .def("set_timeout", &py_hub::set_timeout)
      .def("close", &py_hub::close)
      .def("is_open", &py_hub::is_open);

  py::class_<py_host>(m, "Host")
      .def(py::init(&make_host), py::arg("address"), py::arg("port"), py::arg("timeout"),
           py::arg("size"), py::arg("open"), py::arg("auth") = py_auth{},
           py::arg("tls") = py_tls{}, py::arg("options") = py::dict())
      .def("listening", [](py_host& h) { return h.get().listening(); })
      .def("listen_at", &engine_listen<py_host>, py::arg("endpoint"),
           py::arg("socket_file_mode") = py::none())
      .def("open", [](py_host& h) {
        without_gil nogil;
        h.get().open();
      })
      .def("start", [](py::object self) {
        auto& h = self.cast<py_host&>().get();
        without_gil nogil;
        h.start();
        return self;
      })
      .def("bound_port", [](py_host& h) { return h.get().port(); })
      .def("connection_list", &py_host::connections)
      .def("get_all", [](py_host& h, const std::string& ch) { return from_values(h.get().get_all(ch)); })
      .def("wait_for", &py_host::wait_for_any, py::arg("channel"), py::arg("timeout") = py::none())
      .def("write_all",
           [](py::object self, const std::string& ch, py::handle data) {
             return write_value<se::host>(self, data, [&](se::host& h, const se::value& v) { return h.write_all(ch, v); });
           })
      .def("write_image_all",
           [](py::object self, py::handle data, bool copy) {
             return write_image<se::host>(self, data, copy, [](se::host& h, const se::image& i) { return h.write_image_all(i, se::share_pixels); });
           },
           py::arg("data"), py::kw_only(), py::arg("copy") = true)
      .def("on_channel", &py_host::on, py::arg("channel"), py::arg("callback"), py::arg("image") = false)
      .def("on_connection", &py_host::on_connection)
      .def("on_event", &on_event<se::host>, py::arg("event"), py::arg("callback"),
           py::arg("channel") = "") // asyncio
      .def("on_error_native", &py_host::on_error, py::arg("callback"))
      .def("set_timeout", &py_host::set_timeout)
      .def("close", &py_host::close)
      .def("is_open", &py_host::is_open);

  py::class_<py_client>(m, "Client")
      .def(py::init(&make_client), py::arg("address"), py::arg("port"), py::arg("timeout"),
           py::arg("size"), py::arg("reconnect") = false, py::arg("auth") = py_auth{},
           py::arg("tls") = py_tls{}, py::arg("options") = py::dict())
      .def("dial", &client_open, py::arg("timeout") = py::none())
      .def("connection", [](py_client& c) { return c.get().connection(); })
      .def("write",
           [](py_client& c, const std::string& ch, py::handle data) {
             if (is_bytes_like(data)) {
               byte_source b(data);
               without_gil nogil;
               c.get().write_bytes(ch, b.bytes());
               return;
             }
             auto v = to_value(data);
             without_gil nogil;
             c.get().write(ch, v);
           })
      .def("write_image",
           [](py_client& c, py::handle data, const std::optional<std::string>& encoding, bool copy) {
             auto how = encoding_of(encoding);
             auto img = to_image(data, copy);
             without_gil nogil;
             how ? c.get().write_image(img, *how, se::share_pixels)
                 : c.get().write_image(img, se::share_pixels);
           },
           py::arg("data"), py::kw_only(), py::arg("encoding") = py::none(),
           py::arg("copy") = true)
      .def("on_channel", &py_client::on, py::arg("channel"), py::arg("callback"), py::arg("image") = false)
      .def("on_event", &on_event<se::client>, py::arg("event"), py::arg("callback"),
           py::arg("channel") = "") // asyncio
      .def("on_error_native", &py_client::on_error, py::arg("callback"))
      .def("set_timeout", &py_client::set_timeout)
      .def("close", &py_client::close)
      .def("is_open", &py_client::is_open);
}
