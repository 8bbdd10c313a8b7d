// IdSet: the compact set of custom_ids seen, with the line each was first seen on.

#include "io/idset.h"

#include <QTest>

using namespace Sluice;

class TestIdSet : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void firstLineIsRemembered()
    {
        IdSet ids;
        QCOMPARE(ids.insert(u"a", 1), 0);
        QCOMPARE(ids.insert(u"b", 2), 0);
        QCOMPARE(ids.insert(u"a", 7), 1);
        QCOMPARE(ids.insert(u"a", 9), 1);
        QCOMPARE(ids.insert(u"", 10), 0);
        QCOMPARE(ids.insert(u"", 11), 10);
        QCOMPARE(ids.insert(u"A", 12), 0); // ids are case-sensitive
        QCOMPARE(ids.size(), 4);
    }

    void trailingNulCharactersMakeAnotherId()
    {
        // "d" and "d\u0000" are different custom_ids (Qt 6.4's qHashBits alone cannot tell them apart).
        IdSet ids;
        const QString d = QStringLiteral("d");
        const QString dNul = d + QChar(u'\0');
        const QString dNulNul = dNul + QChar(u'\0');
        QCOMPARE(ids.insert(d, 1), 0);
        QCOMPARE(ids.insert(dNul, 2), 0);
        QCOMPARE(ids.insert(dNulNul, 3), 0);
        QCOMPARE(ids.insert(QString(QChar(u'\0')), 4), 0);
        QCOMPARE(ids.insert(QString(), 5), 0);
        QCOMPARE(ids.insert(dNul, 6), 2);
        QCOMPARE(ids.size(), 5);
    }

    void manyIdsStayCompactAndExact()
    {
        IdSet ids;
        constexpr int N = 300000;
        for (int i = 1; i <= N; ++i) {
            if (ids.insert(QString(QStringLiteral("request-") + QString::number(i)), i) != 0) {
                QFAIL(qPrintable(QStringLiteral("request-%1 reported as a duplicate").arg(i)));
            }
        }
        QCOMPARE(ids.size(), N);
        for (int i = 1; i <= N; i += 997) {
            QCOMPARE(ids.insert(QString(QStringLiteral("request-") + QString::number(i)), N + i), i);
        }
        QCOMPARE(ids.size(), N);
        // 12 bytes a slot, at most 80 % full, grown by half: under 12 / 0.8 * 1.5 = 22.5 bytes an id.
        QVERIFY2(ids.memoryBytes() <= std::size_t(N) * 23, qPrintable(QString::number(ids.memoryBytes())));
        QVERIFY(ids.memoryBytes() >= std::size_t(N) * 12);
    }

    void reservedTableNeverGrows()
    {
        IdSet ids;
        constexpr int N = 100000;
        ids.reserve(N);
        const std::size_t reserved = ids.memoryBytes();
        // 12 bytes a slot, 80 % full: 15 bytes an id, and no spare half from growing.
        QVERIFY2(reserved <= std::size_t(N) * 15 + 64, qPrintable(QString::number(reserved)));
        for (int i = 1; i <= N; ++i) {
            QCOMPARE(ids.insert(QString(QStringLiteral("id-") + QString::number(i)), i), 0);
        }
        QCOMPARE(ids.memoryBytes(), reserved);
        QCOMPARE(ids.insert(QStringLiteral("id-77"), N + 1), 77);
        ids.reserve(10); // never shrinks, keeps what it holds
        QCOMPARE(ids.memoryBytes(), reserved);
        QCOMPARE(ids.insert(QStringLiteral("id-5"), N + 2), 5);
        ids.reserve(2 * N); // grows, keeps what it holds
        QVERIFY(ids.memoryBytes() > reserved);
        QCOMPARE(ids.insert(QStringLiteral("id-99999"), N + 3), 99999);
        QCOMPARE(ids.size(), N);
    }

    void hugeLineNumbersAreClamped()
    {
        IdSet ids;
        QCOMPARE(ids.insert(u"x", 10'000'000'000LL), 0);
        QCOMPARE(ids.insert(u"x", 1), qint64(UINT32_MAX));
    }
};

QTEST_GUILESS_MAIN(TestIdSet)
#include "tst_idset.moc"
