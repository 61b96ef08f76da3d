# Compiles tests/package/consumer/main.cpp by hand with the flags that
# `pkg-config --cflags --libs runbase` gives for the installed prefix, then runs it. A static
# runbase.pc names libcurl in Requires, so no --static is needed (or wanted: it would ask for all
# of libcurl's private libraries). The build was configured for another install prefix than the
# test's: runbase.pc finds its prefix from its own place (${pcfiledir}), so nothing is redefined.
# cmake -DPKG_CONFIG=... -DPREFIX=... -DLIBDIR=... -DCXX_COMPILER=... -DSTD_FLAG=... -DCXX_FLAGS=...
#       -DLINKER_FLAGS=... -DSOURCE=... -DOUTPUT=... -P pkg_config_consumer.cmake
cmake_minimum_required(VERSION 3.16)

set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${LIBDIR}/pkgconfig")
execute_process(COMMAND "${PKG_CONFIG}" --cflags --libs runbase
                RESULT_VARIABLE result OUTPUT_VARIABLE flags ERROR_VARIABLE error
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "pkg-config --cflags --libs runbase failed: ${error}")
endif()
message(STATUS "pkg-config --cflags --libs runbase: ${flags}")
string(FIND "${flags}" "-I${PREFIX}/" at)
if(at EQUAL -1)
  message(FATAL_ERROR "pkg-config's include path is not under ${PREFIX}: ${flags}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
separate_arguments(cxx_flags UNIX_COMMAND "${CXX_FLAGS}")
separate_arguments(linker_flags UNIX_COMMAND "${LINKER_FLAGS}")

get_filename_component(output_dir "${OUTPUT}" DIRECTORY)
file(MAKE_DIRECTORY "${output_dir}")
file(REMOVE "${OUTPUT}")
set(command "${CXX_COMPILER}" ${STD_FLAG} ${cxx_flags} "${SOURCE}" -o "${OUTPUT}" ${flags}
            ${linker_flags} "-Wl,-rpath,${PREFIX}/${LIBDIR}")
message(STATUS "${command}")
execute_process(COMMAND ${command} RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "compiling the consumer with pkg-config's flags failed (${result})")
endif()
execute_process(COMMAND "${OUTPUT}" RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "the pkg-config consumer failed (${result})")
endif()
