# ui/models: the endpoints table and the error groups tree.
sluice_add_test(tst_endpointtablemodel SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_endpointtablemodel.cpp LABELS ui LIBS sluice_ui)
sluice_add_test(tst_errorgroupsmodel SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_errorgroupsmodel.cpp LABELS ui LIBS sluice_ui)
