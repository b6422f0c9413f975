# The seed README's "Computer 1" hub example. Changed from the seed: the
# port, read from SEED_EXAMPLE_PORT (8080, the seed's, when unset), so that a
# test can run it on a free port; the code below is otherwise the seed's.
import os; PORT = int(os.environ.get("SEED_EXAMPLE_PORT", "8080"))

# Computer 1:
from socketengine import hub

h = hub(port=PORT)

while h.connections == []:
	pass

h.write_all("test", "hubs are connected")
h.close()
