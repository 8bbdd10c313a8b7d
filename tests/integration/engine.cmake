sluice_add_test(tst_engine SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_engine.cpp LABELS integration LIBS sluice_sim)
sluice_add_test(tst_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_cli.cpp LABELS integration LIBS sluice_sim)
target_compile_definitions(tst_cli PRIVATE SLUICE_CLI_PATH="$<TARGET_FILE:sluice-cli>"
    SLUICE_SOURCE_DIR="${PROJECT_SOURCE_DIR}" SLUICE_ALLOCATOR_NAME="${SLUICE_ALLOCATOR}")
add_dependencies(tst_cli sluice-cli)
