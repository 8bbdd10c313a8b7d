# LiveCharts: series contents, windows, coalesced redraws, offscreen rendering, history CSV.
sluice_add_test(tst_livecharts SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_livecharts.cpp LABELS ui LIBS sluice_ui)
