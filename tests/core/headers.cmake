# core/limit: provider rate-limit headers.
sluice_add_test(tst_ratelimitheaders SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_ratelimitheaders.cpp LABELS unit)
