# The seed README's client example. Changed from the seed: the port, read
# from SEED_EXAMPLE_PORT (8080, the seed's default, when unset), so that a
# test can run it on a free port; the code below is otherwise the seed's.
import os; PORT = int(os.environ.get("SEED_EXAMPLE_PORT", "8080"))

from socketengine import client

c = client(port=PORT)
c.start()

c.write("test", "client is connected!")

c.close()
