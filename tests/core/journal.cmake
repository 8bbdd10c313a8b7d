# core/io/journal: the crash-safe record of a run's progress (resume).
sluice_add_test(tst_journal SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_journal.cpp LABELS unit)
sluice_add_test(tst_idset SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_idset.cpp LABELS unit)
