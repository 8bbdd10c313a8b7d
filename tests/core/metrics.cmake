# core/metrics: counters and the per-second history.
sluice_add_test(tst_metrics SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_metrics.cpp LABELS unit)
