# The seed README's host example. Changed from the seed:
# - the port, read from SEED_EXAMPLE_PORT (8080, the seed's default, when
#   unset), so that a test can run it on a free port;
# - the loop is bounded. The seed's `while True:` never ends (its `break`
#   leaves only the `for`), printing the same value again and again and never
#   reaching h.close(). Here it ends once an item is printed, or when
#   SEED_EXAMPLE_WAIT seconds pass without one (then the exit status is 1).
# The code below is otherwise the seed's.
import os; PORT = int(os.environ.get("SEED_EXAMPLE_PORT", "8080"))
import time; deadline = time.monotonic() + float(os.environ.get("SEED_EXAMPLE_WAIT", "10"))
printed = False

from socketengine import host

h = host(port=PORT)
h.start()

while not printed and time.monotonic() < deadline:
	data = h.get_ALL("test")

	if data is not None:
		for item in data:
			print(item)
			printed = True
			break

h.close()
if not printed: raise SystemExit("host: nothing arrived on \"test\" in time")
