sluice_add_test(tst_gateway SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_gateway.cpp LABELS integration
    LIBS sluice_gateway)
target_compile_definitions(tst_gateway PRIVATE SLUICE_CLI_PATH="$<TARGET_FILE:sluice-cli>")
add_dependencies(tst_gateway sluice-cli)
target_compile_definitions(tst_gateway PRIVATE SLUICE_TEST_DATA="${PROJECT_SOURCE_DIR}/tests/data")
# The official npm SDKs (openai, @anthropic-ai/sdk, pinned in tests/sdk/package-lock.json) against
# `sluice-cli serve` and `sluice-cli simulate`: installed into the build tree by the test itself.
add_test(NAME sdk_gateway
    COMMAND bash ${PROJECT_SOURCE_DIR}/tests/sdk/run-sdk-tests.sh --cli $<TARGET_FILE:sluice-cli>
        --work ${CMAKE_BINARY_DIR}/sdk)
set_tests_properties(sdk_gateway PROPERTIES LABELS integration TIMEOUT 600)
