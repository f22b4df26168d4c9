"""Build of the Cython extension modules (metadata lives in pyproject.toml).

Set PLAIT_CYTHON_TRACE=1 to build with line tracing for profiling.
"""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

directives = {"language_level": "3", "boundscheck": False, "wraparound": False}
macros = []
if os.environ.get("PLAIT_CYTHON_TRACE") == "1":
    directives["linetrace"] = True
    macros.append(("CYTHON_TRACE_NOGIL", "1"))

extensions = [
    Extension("plait.engine._cvm", ["engine/_cvm.pyx"], define_macros=macros),
    Extension("plait.engine._http_head", ["engine/_http_head.pyx"], define_macros=macros),
    Extension("plait.planner._op_parse", ["planner/_op_parse.pyx"], define_macros=macros),
    Extension("plait.planner._field_copy", ["planner/_field_copy.pyx"], define_macros=macros),
    Extension("plait._fastpath", ["bindings/_fastpath.pyx"], define_macros=macros),
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives, include_path=["engine"]))
