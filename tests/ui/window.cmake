sluice_add_test(tst_mainwindow SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_mainwindow.cpp LABELS ui LIBS sluice_ui)
target_compile_definitions(tst_mainwindow PRIVATE SLUICE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    SLUICE_ARTIFACT_DIR="${CMAKE_BINARY_DIR}/artifacts")
# The operator's walk-through of issue 19: one test per defect, on the real widgets and simulators.
sluice_add_test(tst_walkthrough SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_walkthrough.cpp LABELS ui LIBS sluice_ui)
# The window on screens of several sizes (offscreen, with a screen of that size): it fits, stays on the
# screen when relaunched, and every pane can be reached.
sluice_add_test(tst_windowfit SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_windowfit.cpp LABELS ui LIBS sluice_ui)
set_tests_properties(tst_windowfit PROPERTIES ENVIRONMENT
    "QT_QPA_PLATFORM=offscreen:configfile=${CMAKE_CURRENT_LIST_DIR}/screens/1366x768.json")
foreach(screen 1024x700 1600x1000)
    add_test(NAME tst_windowfit_${screen} COMMAND tst_windowfit)
    set_tests_properties(tst_windowfit_${screen} PROPERTIES LABELS ui TIMEOUT 300 ENVIRONMENT
        "QT_QPA_PLATFORM=offscreen:configfile=${CMAKE_CURRENT_LIST_DIR}/screens/${screen}.json")
endforeach()
# Around a run: run settings, outputs never replaced silently, the summary, the records browser, markers.
sluice_add_test(tst_runtools SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_runtools.cpp LABELS ui LIBS sluice_ui)
set_tests_properties(tst_runtools PROPERTIES ENVIRONMENT
    "QT_QPA_PLATFORM=offscreen:configfile=${CMAKE_CURRENT_LIST_DIR}/screens/1366x768.json")
# Ejections, recoveries and 429 storms from the endpoint states of consecutive snapshots.
sluice_add_test(tst_endpointevents SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_endpointevents.cpp LABELS ui LIBS sluice_ui)
# The real xcb platform under Xvfb (1366x768): tst_windowfit's checks and the shipped app's window.
add_test(NAME sluice_xvfb_smoke
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/xvfb-smoke.sh $<TARGET_FILE:sluice> $<TARGET_FILE:tst_windowfit>
            ${CMAKE_BINARY_DIR}/artifacts)
set_tests_properties(sluice_xvfb_smoke PROPERTIES LABELS ui TIMEOUT 240 RUN_SERIAL TRUE)
