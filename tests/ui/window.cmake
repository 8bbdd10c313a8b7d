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
