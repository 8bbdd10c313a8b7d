# ui/exporter: CSV, HTML report, PNG and copy exports.
sluice_add_test(tst_exporter SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_exporter.cpp LABELS ui LIBS sluice_ui sluice_sim)
