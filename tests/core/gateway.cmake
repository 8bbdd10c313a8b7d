sluice_add_test(tst_callerqueue SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_callerqueue.cpp LABELS unit LIBS sluice_gateway)
