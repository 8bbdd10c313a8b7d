sluice_add_test(tst_gateway SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_gateway.cpp LABELS integration
    LIBS sluice_gateway sluice_sim)
target_compile_definitions(tst_gateway PRIVATE SLUICE_CLI_PATH="$<TARGET_FILE:sluice-cli>")
add_dependencies(tst_gateway sluice-cli)
