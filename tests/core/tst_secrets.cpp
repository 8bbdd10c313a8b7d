// Secrets: the one redaction of API keys from everything that leaves the engine.

#include "util/secrets.h"

#include <QTest>

#include <string>

using namespace Sluice;

class tst_Secrets : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void redact_data();
    void redact();
    void shortKeysAreIgnored();
    void noKeys();
};

void tst_Secrets::redact_data()
{
    QTest::addColumn<QList<QByteArray>>("keys");
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("expected");

    const QByteArray key = QByteArrayLiteral("sk-canary-123456");
    QTest::newRow("one") << QList{key}
                         << QStringLiteral("Incorrect API key provided: Bearer sk-canary-123456.")
                         << QStringLiteral("Incorrect API key provided: Bearer [REDACTED].");
    QTest::newRow("adjacent") << QList{key} << QStringLiteral("sk-canary-123456sk-canary-123456")
                              << QStringLiteral("[REDACTED][REDACTED]");
    QTest::newRow("overlapping halves") << QList{QByteArrayLiteral("abcdabcd")}
                                        << QStringLiteral("abcdabcdabcd") << QStringLiteral("[REDACTED]abcd");
    QTest::newRow("two keys") << QList{key, QByteArrayLiteral("anthropic-key-77")}
                              << QStringLiteral("a sk-canary-123456 b anthropic-key-77 c sk-canary-123456")
                              << QStringLiteral("a [REDACTED] b [REDACTED] c [REDACTED]");
    QTest::newRow("non-ASCII around") << QList{key} << QStringLiteral("clé «sk-canary-123456» refusée")
                                      << QStringLiteral("clé «[REDACTED]» refusée");
    QTest::newRow("prefix only") << QList{key} << QStringLiteral("sk-canary-12345 is not the key")
                                 << QStringLiteral("sk-canary-12345 is not the key");
}

void tst_Secrets::redact()
{
    QFETCH(QList<QByteArray>, keys);
    QFETCH(QString, text);
    QFETCH(QString, expected);

    const Secrets secrets(keys);
    QVERIFY(!secrets.isEmpty());
    QCOMPARE(secrets.redacted(text), expected);
    // The byte form (records) and the string form (messages) agree.
    std::string bytes = text.toStdString();
    secrets.redact(bytes);
    QCOMPARE(QString::fromStdString(bytes), expected);
}

void tst_Secrets::shortKeysAreIgnored()
{
    const Secrets secrets({QByteArrayLiteral("short"), QByteArrayLiteral("1234567")});
    QVERIFY(secrets.isEmpty());
    const QString text = QStringLiteral("a short word and 1234567");
    QCOMPARE(secrets.redacted(text), text);

    const Secrets mixed({QByteArrayLiteral("short"), QByteArrayLiteral("12345678")});
    QVERIFY(!mixed.isEmpty());
    QCOMPARE(mixed.redacted(QStringLiteral("a short word and 12345678")),
             QStringLiteral("a short word and [REDACTED]"));
}

void tst_Secrets::noKeys()
{
    const Secrets none;
    QVERIFY(none.isEmpty());
    std::string text = "[REDACTED] stays as it is";
    none.redact(text);
    QCOMPARE(QString::fromStdString(text), QStringLiteral("[REDACTED] stays as it is"));
}

QTEST_GUILESS_MAIN(tst_Secrets)
#include "tst_secrets.moc"
