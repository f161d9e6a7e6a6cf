# One short fuzzing run for ctest: copy the seed corpus into the build tree,
# fuzz that copy for 10 seconds, fail on any crash, leak or timeout. Crash
# inputs land in WORK/ (libFuzzer's artifact prefix), never in the sources.
#
#   cmake -DFUZZER=<exe> -DSEEDS=<dir> -DWORK=<dir> [-DDICT=<file>] -P run_fuzz.cmake
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/corpus)
file(GLOB seeds ${SEEDS}/*)
if(seeds)
  file(COPY ${seeds} DESTINATION ${WORK}/corpus)
endif()

set(args -max_total_time=10 -timeout=5 -print_final_stats=1 -artifact_prefix=${WORK}/)
if(DICT)
  list(APPEND args -dict=${DICT})
endif()
execute_process(COMMAND ${FUZZER} ${args} ${WORK}/corpus
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)
file(WRITE ${WORK}/fuzz.log "${out}")
if(NOT rc EQUAL 0)
  message("${out}")
  message(FATAL_ERROR "${FUZZER} failed (exit ${rc}); log and crash input in ${WORK}")
endif()
