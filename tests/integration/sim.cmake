# Simulator: real loopback HTTP against Sluice::Simulator.
sluice_add_test(tst_simulator
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_simulator.cpp
    LABELS integration LIBS sluice_sim)
