# Installs stsw.pc. For the shared library `pkg-config --cflags --libs stsw` is all a
# consumer needs; a static link uses `pkg-config --static`, whose Libs.private names the
# libraries stsw's objects call into (their development packages must be installed).
# Paths are relative to ${pcfiledir}, so the installed tree may be moved.
file(RELATIVE_PATH STSW_PC_TO_PREFIX
  "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
set(STSW_PC_LIBS_PRIVATE "-luring -lisal -lspdlog -lfmt -lboost_json")
configure_file(${CMAKE_CURRENT_LIST_DIR}/stsw.pc.in ${CMAKE_BINARY_DIR}/stsw.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/stsw.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
