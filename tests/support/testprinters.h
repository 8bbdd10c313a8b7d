#pragma once

#include "metrics/endpointstate.h"

#include <QTest>

// QCOMPARE on the typed endpoint states and limit reasons, printing them by name. (A QTest::toString
// specialization is not enough: argument-dependent lookup finds Sluice::toString, which returns a
// QString, first.)
namespace QTest {
inline bool qCompare(Sluice::EndpointState t1, Sluice::EndpointState t2, const char *actual,
                     const char *expected, const char *file, int line)
{
    return compare_helper(
        t1 == t2, "Compared values are not the same",
        [t1] { return qstrdup(qPrintable(Sluice::toString(t1))); },
        [t2] { return qstrdup(qPrintable(Sluice::toString(t2))); }, actual, expected, file, line);
}
inline bool qCompare(Sluice::LimitReason t1, Sluice::LimitReason t2, const char *actual, const char *expected,
                     const char *file, int line)
{
    return compare_helper(
        t1 == t2, "Compared values are not the same",
        [t1] { return qstrdup(qPrintable(Sluice::toString(t1))); },
        [t2] { return qstrdup(qPrintable(Sluice::toString(t2))); }, actual, expected, file, line);
}
} // namespace QTest
