# A rank that dies or stops answering ends the whole job, quickly, with a
# message naming it; nothing hangs.
function(expect_failure name expected_pattern limit_seconds)
  string(TIMESTAMP start "%s")
  execute_process(COMMAND ${MPIEXEC} --oversubscribe -np ${RANKS} ${PROBE} ${ARGN}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 170)
  string(TIMESTAMP end "%s")
  math(EXPR elapsed "${end} - ${start}")
  if(rc EQUAL 0 OR rc MATCHES "timeout")
    message(FATAL_ERROR "${name}: the job did not fail (${rc}) in ${elapsed} s:\n${out}\n${err}")
  endif()
  if(NOT "${out}${err}" MATCHES "${expected_pattern}")
    message(FATAL_ERROR "${name}: no message matching \"${expected_pattern}\":\n${out}\n${err}")
  endif()
  # Each rank's message is one whole line: lines of ranks that abort
  # together never interleave.
  string(REPLACE "\n" ";" lines "${err}")
  foreach(line IN LISTS lines)
    string(FIND "${line}" "actgrad: rank" at)
    if(at GREATER 0)
      message(FATAL_ERROR "${name}: a rank's message starts mid-line:\n${line}")
    endif()
  endforeach()
  if(elapsed GREATER ${limit_seconds})
    message(FATAL_ERROR "${name}: took ${elapsed} s (limit ${limit_seconds} s)")
  endif()
  message(STATUS "${name}: ended in ${elapsed} s with: ${CMAKE_MATCH_0}")
endfunction()

# Killed in the middle of training: mpirun names the rank.
expect_failure(dies "process rank 1 [^\n]*exited on signal 9" 30 die 1 5 5)
# Alive but stuck: rank 0's collective times out (3 s) and names the rank
# that stopped reporting steps.
expect_failure(hangs
  "rank 0 of ${RANKS}: the gradient allreduce of step 6 [^\n]*made no progress for [0-9]+ s: this rank is at step 6; rank 1 last reported step 5"
  40 hang 1 6 3)
# Stopped (SIGSTOP) between two steps: the others wait in the next step's
# collective, and the stopped rank is named as the silent one.
expect_failure(stopped
  "rank 0 of ${RANKS}: the gradient allreduce of step [0-9]+ [^\n]*rank 1 last reported step [0-9]+ and has sent nothing for [0-9]+ s \\(stopped"
  40 stop 1 6 3)
