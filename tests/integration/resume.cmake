# Crash safety: SIGKILL mid-flight and --resume, identity checks, --retry-errors (the real sluice-cli).
sluice_add_test(tst_resume SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_resume.cpp LABELS integration LIBS sluice_sim)
target_compile_definitions(tst_resume PRIVATE SLUICE_CLI_PATH="$<TARGET_FILE:sluice-cli>")
add_dependencies(tst_resume sluice-cli)
