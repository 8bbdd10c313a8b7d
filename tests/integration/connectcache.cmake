# The executables' connect cache (app/runtime), linked here as sluice-cli links it, against Qt's own
# behaviour and with real QNetworkAccessManager requests to the simulator.
if(SLUICE_CONNECT_CACHE)
    sluice_add_test(tst_connectcache SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_connectcache.cpp
        LABELS integration LIBS sluice_runtime sluice_sim Qt6::Network)
endif()
