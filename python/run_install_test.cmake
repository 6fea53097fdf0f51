# cmake --install the python component into a scratch prefix and import the package from
# there (not from the build tree): proves `cmake --install` gives a working package.
# Inputs: STSW_BUILD_DIR, WORK_DIR, PYTHON, SITE_DIR (relative to the prefix).
file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${STSW_BUILD_DIR}" --prefix "${WORK_DIR}"
    --component python
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install --component python failed:\n${out}")
endif()
set(ENV{PYTHONPATH} "${WORK_DIR}/${SITE_DIR}")
execute_process(COMMAND "${PYTHON}" -c
    "import stsw, numpy, pathlib, tempfile, sys\nassert str(pathlib.Path(stsw.__file__).parent).startswith(sys.argv[1]), stsw.__file__\nd = tempfile.mkdtemp()\nstsw.dump({'a': numpy.arange(4)}, d + '/m.safetensors')\nassert stsw.load(d + '/m.safetensors', framework='np')['a'].tolist() == [0, 1, 2, 3]\nprint('installed stsw OK:', stsw.__file__)"
    "${WORK_DIR}"
  WORKING_DIRECTORY "${WORK_DIR}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "importing the installed package failed")
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
