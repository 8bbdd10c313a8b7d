// SseParser: server-sent events split out of a body that arrives in arbitrary pieces.

#include "net/sseparser.h"

#include <QTest>

using Sluice::SseParser;

namespace {

using Events = std::vector<SseParser::Event>;

QStringList list(std::initializer_list<const char *> items)
{
    QStringList out;
    for (const char *item : items) {
        out << QString::fromUtf8(item);
    }
    return out;
}

QStringList describe(const Events &events)
{
    QStringList out;
    for (const SseParser::Event &e : events) {
        out << QString::fromUtf8(e.name + '|' + e.data);
    }
    return out;
}

} // namespace

class tst_SseParser : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void events_data();
    void events();
    void everySplitGivesTheSameEvents_data();
    void everySplitGivesTheSameEvents();
    void unfinishedEventIsNotAnEvent();
    void oversizedEventFailsForGood();
};

void tst_SseParser::events_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("openai") << QByteArray("data: {\"a\":1}\n\ndata: [DONE]\n\n")
                            << list({"|{\"a\":1}", "|[DONE]"});
    QTest::newRow("named") << QByteArray("event: message_start\ndata: {}\n\n") << list({"message_start|{}"});
    QTest::newRow("crlf") << QByteArray("event: ping\r\ndata: x\r\n\r\n") << list({"ping|x"});
    QTest::newRow("cr only") << QByteArray("data: x\r\rdata: y\r\r") << list({"|x", "|y"});
    QTest::newRow("multi-line data") << QByteArray("data: a\ndata: b\ndata:c\n\n") << list({"|a\nb\nc"});
    QTest::newRow("comments and unknown fields")
        << QByteArray(": keep-alive\nid: 7\nretry: 100\nfoo: bar\ndata: x\n\n") << list({"|x"});
    QTest::newRow("no data is no event") << QByteArray("event: ping\n\n: hi\n\ndata: x\n\n") << list({"|x"});
    QTest::newRow("only one leading space removed") << QByteArray("data:  two\n\n") << list({"| two"});
    QTest::newRow("field without colon") << QByteArray("data\n\n") << list({"|"});
    QTest::newRow("empty data line") << QByteArray("data:\ndata:\n\n") << list({"|\n"});
}

void tst_SseParser::events()
{
    QFETCH(QByteArray, body);
    QFETCH(QStringList, expected);
    SseParser parser;
    Events events;
    QVERIFY(parser.feed(body, events));
    QCOMPARE(describe(events), expected);
    QCOMPARE(parser.bytesFed(), qint64(body.size()));
}

void tst_SseParser::everySplitGivesTheSameEvents_data()
{
    events_data();
}

void tst_SseParser::everySplitGivesTheSameEvents()
{
    QFETCH(QByteArray, body);
    QFETCH(QStringList, expected);
    // Any two cuts (CRLF pairs split, lines split, events split): the same events.
    for (qsizetype a = 0; a <= body.size(); ++a) {
        for (qsizetype b = a; b <= body.size(); ++b) {
            SseParser parser;
            Events events;
            QVERIFY(parser.feed(QByteArrayView(body).first(a), events));
            QVERIFY(parser.feed(QByteArrayView(body).sliced(a, b - a), events));
            QVERIFY(parser.feed(QByteArrayView(body).sliced(b), events));
            QCOMPARE(describe(events), expected);
        }
    }
    // One byte at a time.
    SseParser parser;
    Events events;
    for (const char c : body) {
        QVERIFY(parser.feed(QByteArrayView(&c, 1), events));
    }
    QCOMPARE(describe(events), expected);
}

void tst_SseParser::unfinishedEventIsNotAnEvent()
{
    SseParser parser;
    Events events;
    QVERIFY(parser.feed("data: {\"a\":1}\n\ndata: {\"cut", events));
    QCOMPARE(events.size(), std::size_t(1));
    QVERIFY(parser.feed("\n", events)); // the line ended, the event did not
    QCOMPARE(events.size(), std::size_t(1));
}

void tst_SseParser::oversizedEventFailsForGood()
{
    SseParser parser(64);
    Events events;
    QVERIFY(parser.feed("data: small\n\n", events));
    QVERIFY(!parser.feed(QByteArray("data: " + QByteArray(100, 'x')), events)); // a line over the limit
    QVERIFY(parser.failed());
    QVERIFY(!parser.feed("\n\ndata: more\n\n", events));
    QCOMPARE(events.size(), std::size_t(1));

    SseParser lines(64);
    Events more;
    QVERIFY(!lines.feed(QByteArray("data: " + QByteArray(40, 'a') + "\ndata: " + QByteArray(40, 'b') + "\n"),
                        more));
}

QTEST_GUILESS_MAIN(tst_SseParser)
#include "tst_sseparser.moc"
