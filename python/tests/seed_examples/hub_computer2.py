# The seed README's "Computer 2" hub example. Changed from the seed:
# - the port dialled, read from SEED_EXAMPLE_PORT (8080, the seed's, when
#   unset), so that a test can run it on a free port;
# - one loop before the print, waiting (at most SEED_EXAMPLE_WAIT seconds)
#   until the value has arrived. The seed printed at once, racing Computer
#   1: it printed [] or ['hubs are connected'] depending on which came first.
#   With the wait it prints the latter whenever the value is delivered.
# The code below is otherwise the seed's.
import os; PORT = int(os.environ.get("SEED_EXAMPLE_PORT", "8080"))
import time; deadline = time.monotonic() + float(os.environ.get("SEED_EXAMPLE_WAIT", "10"))

# Computer 2:
from socketengine import hub

h = hub()

h.connect('hello!', '127.0.0.1', PORT)

while h.get_all('test') == [] and time.monotonic() < deadline:
	pass
print(h.get_all('test'))

h.close()
