# core/io: JSONL parsing, streaming reading and writing; the redaction of keys from what is written.
sluice_add_test(tst_jsonlparser SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_jsonlparser.cpp LABELS unit)
sluice_add_test(tst_jsonlreader SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_jsonlreader.cpp LABELS unit)
sluice_add_test(tst_jsonlwriter SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_jsonlwriter.cpp LABELS unit)
sluice_add_test(tst_records SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_records.cpp LABELS unit)
sluice_add_test(tst_secrets SOURCES ${CMAKE_CURRENT_LIST_DIR}/tst_secrets.cpp LABELS unit)
