# The transport on its worker threads: batched hand-off, cancels, HTTP/1.1, h2c and h2 over TLS lanes
# (the nginx cases need nginx, from packaging/install-deps.sh; they are skipped without it).
sluice_add_test(tst_transport SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_transport.cpp LABELS integration LIBS sluice_sim)
target_compile_definitions(tst_transport PRIVATE SLUICE_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
