# Hostile servers: every scripted fault of the simulator against the engine and the transport, over
# loopback HTTP and HTTPS (test-only certificates in tests/data/).
sluice_add_test(tst_hostile SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_hostile.cpp LABELS integration LIBS sluice_sim)
target_compile_definitions(tst_hostile PRIVATE SLUICE_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
# The simulator's own TLS checks (tests/integration/tst_simulator.cpp) need the same certificates.
if(TARGET tst_simulator)
    target_compile_definitions(tst_simulator PRIVATE SLUICE_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
endif()
