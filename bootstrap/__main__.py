"""rshiv's entry point, the pyz's PEP 441 `__main__.py`: run the stub, `_rshiv/stub.py`.

A pyz carries this file and the stub compiled by the build interpreter as well (PEP 552
unchecked-hash `__main__.pyc` and `_rshiv/stub.pyc`): zipimport then runs `__main__.pyc`,
and this code runs the stub's bytecode, so that Python compiles nothing at a warm start. An
interpreter whose magic number differs compiles both from source: zipimport compiles this
file twice (runpy, then get_filename), so it is a few lines; the stub once.
"""

import sys

path = __loader__.archive + "/_rshiv/stub.py"
stub = sys.modules["_rshiv.stub"] = type(sys)("_rshiv.stub")
stub.__file__, stub.__loader__ = path, __loader__
try:
    code = __loader__.get_data(path[:-3] + ".pyc")
    if code[:4] != sys.modules["_frozen_importlib_external"].MAGIC_NUMBER:
        raise ImportError(path)
    code = __import__("marshal").loads(memoryview(code)[16:])
    __import__("_imp")._fix_co_filename(code, path)
except (OSError, ImportError, KeyError, AttributeError, ValueError, EOFError, TypeError):
    code = compile(__loader__.get_data(path), path, "exec", dont_inherit=True)
exec(code, vars(stub))
stub.main()
