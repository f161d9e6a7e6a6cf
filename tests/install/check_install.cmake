# `cmake --install` into a scratch prefix: every file the README's
# "Installing" section lists is there, the installed tool runs, and the
# systemd unit's ExecStart names the binary the default prefix installs.
# Run by ctest (tests/CMakeLists.txt) with BUILD_DIR, PREFIX, BINDIR,
# DATADIR, LIBDIR and UNIT defined.
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}"
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${err}")
endif()

foreach(f "${BINDIR}/midge" "${DATADIR}/midge/onenet-mqtts-ca.pem"
          "${DATADIR}/midge/midge.ini.example" "${DATADIR}/midge/midge-device.service"
          "${LIBDIR}/mosquitto/mosquitto_onenet.so")
  if(NOT EXISTS "${PREFIX}/${f}")
    message(FATAL_ERROR "cmake --install did not install ${f}")
  endif()
endforeach()

execute_process(COMMAND "${PREFIX}/${BINDIR}/midge" --version RESULT_VARIABLE rc
                OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "^midge ")
  message(FATAL_ERROR "the installed midge does not run: ${rc} ${out}")
endif()

file(STRINGS "${UNIT}" exec REGEX "^ExecStart=")
if(NOT exec MATCHES "^ExecStart=/usr/local/${BINDIR}/midge ")
  message(FATAL_ERROR "the unit runs '${exec}', not what the default prefix installs "
                      "(/usr/local/${BINDIR}/midge)")
endif()
file(REMOVE_RECURSE "${PREFIX}")
