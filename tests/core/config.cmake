# core/engine project file and core/net provider dialects.
sluice_add_test(tst_projectconfig SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_projectconfig.cpp LABELS unit)
sluice_add_test(tst_provideradapter SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_provideradapter.cpp LABELS unit)
target_compile_definitions(tst_projectconfig PRIVATE
    SLUICE_EXAMPLES_DIR="${PROJECT_SOURCE_DIR}/resources/examples")
