sluice_add_test(tst_callerqueue SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_callerqueue.cpp LABELS unit LIBS sluice_gateway)
# core/net/dialect: OpenAI <-> Anthropic requests, replies and errors (the gateway answers in the caller's).
sluice_add_test(tst_dialect SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_dialect.cpp LABELS unit)
