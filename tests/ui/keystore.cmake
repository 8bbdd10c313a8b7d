# The OS keychain (QtKeychain over the Secret Service), in a private D-Bus session with its own
# unlocked gnome-keyring: tests/ui/with-keyring.sh starts both and runs the test inside.
find_program(SLUICE_DBUS_RUN_SESSION dbus-run-session)
find_program(SLUICE_GNOME_KEYRING gnome-keyring-daemon)
add_executable(tst_keystore ${CMAKE_CURRENT_LIST_DIR}/tst_keystore.cpp)
target_link_libraries(tst_keystore PRIVATE sluice_ui sluice_sim sluice_core sluice_options Qt6::Test)
target_include_directories(tst_keystore PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
if(SLUICE_DBUS_RUN_SESSION AND SLUICE_GNOME_KEYRING)
    add_test(NAME tst_keystore
        COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/with-keyring.sh $<TARGET_FILE:tst_keystore>)
    set_tests_properties(tst_keystore PROPERTIES LABELS "ui" TIMEOUT 300
        ENVIRONMENT "QT_QPA_PLATFORM=offscreen")
else()
    message(STATUS "tst_keystore not registered: needs dbus-run-session and gnome-keyring-daemon")
endif()
