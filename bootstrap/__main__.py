"""rshiv's entry point, the pyz's PEP 441 `__main__.py`: run the stub, `_rshiv/stub.py`.

Python compiles this file from source twice at every start (runpy, and zipimport's
get_filename), so it is these few lines; the stub they run is compiled once.
"""

import sys

path = __file__[: -len("__main__.py")] + "_rshiv/stub.py"
stub = sys.modules["_rshiv.stub"] = type(sys)("_rshiv.stub")
stub.__file__, stub.__loader__ = path, __loader__
exec(compile(__loader__.get_data(path), path, "exec"), vars(stub))
stub.main()
