sluice_add_test(tst_mainwindow SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_mainwindow.cpp LABELS ui LIBS sluice_ui sluice_sim)
target_compile_definitions(tst_mainwindow PRIVATE SLUICE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    SLUICE_ARTIFACT_DIR="${CMAKE_BINARY_DIR}/artifacts")
