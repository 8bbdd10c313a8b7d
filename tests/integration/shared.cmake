# Limits shared through Redis and --shard: real redis-server, real sluice-cli processes, real simulator.
sluice_add_test(tst_sharedlimits SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_sharedlimits.cpp LABELS integration
    LIBS sluice_sim)
target_compile_definitions(tst_sharedlimits PRIVATE SLUICE_CLI_PATH="$<TARGET_FILE:sluice-cli>")
add_dependencies(tst_sharedlimits sluice-cli)
