# cmake -DTESTS=satunet_tests -DREGISTERED="A;B;..." -P suites_registered.cmake
# Fails naming each GoogleTest suite compiled into TESTS that ctest does not run (not
# registered through satunet_add_test/satunet_add_mpi_test), and each registered suite the
# binary does not hold (a renamed suite whose ctest entry runs nothing).
execute_process(COMMAND ${TESTS} --gtest_list_tests OUTPUT_VARIABLE listing
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${TESTS} --gtest_list_tests failed (${status})")
endif()
string(REPLACE "\n" ";" lines "${listing}")
set(compiled)
foreach(line IN LISTS lines)
  # Suites start in the first column and end with a dot; their tests are indented.
  if(line MATCHES "^([A-Za-z0-9_]+)\\.")
    list(APPEND compiled ${CMAKE_MATCH_1})
  endif()
endforeach()
list(REMOVE_DUPLICATES compiled)

set(unregistered ${compiled})
list(REMOVE_ITEM unregistered ${REGISTERED})
set(missing ${REGISTERED})
list(REMOVE_ITEM missing ${compiled})
list(LENGTH compiled count)
if(unregistered OR missing)
  if(unregistered)
    string(REPLACE ";" ", " unregistered "${unregistered}")
    message(SEND_ERROR "compiled into satunet_tests but never run by ctest: ${unregistered} "
                       "(register each in tests/CMakeLists.txt)")
  endif()
  if(missing)
    string(REPLACE ";" ", " missing "${missing}")
    message(SEND_ERROR "registered in tests/CMakeLists.txt but not in satunet_tests: ${missing}")
  endif()
  message(FATAL_ERROR "${count} suites compiled")
endif()
message(STATUS "all ${count} suites compiled into satunet_tests are registered")
