# The transport on its worker threads: batched hand-off, cancels, HTTP/1.1 and h2c lanes (the h2c
# case needs nginx, from packaging/install-deps.sh; it is skipped without it).
sluice_add_test(tst_transport SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_transport.cpp LABELS integration)
