# The desktop application as shipped (build/bin/sluice, with the executables' runtime: mimalloc and
# the connect cache): its "Try it" run against the built-in simulated endpoints, offscreen, to the end.
add_test(NAME sluice_app_try_it
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/try-it.sh $<TARGET_FILE:sluice> ${CMAKE_BINARY_DIR}/artifacts)
set_tests_properties(sluice_app_try_it PROPERTIES LABELS ui TIMEOUT 120
    ENVIRONMENT "QT_QPA_PLATFORM=offscreen")
