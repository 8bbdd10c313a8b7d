#include "models/errorgroupsmodel.h"

#include <QAbstractItemModelTester>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <nlohmann/json.hpp>

#include <memory>

using Sluice::Gui::ErrorGroupsModel;
using json = nlohmann::json;

class tst_ErrorGroupsModel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void groupsByClassAndMessage();
    void normalisation_data();
    void normalisation();
    void sameMessageDifferentClass();
    void sortedByCount();
    void childRows();
    void malformedRecordFields();
    void loadFile();
    void loadFileMissing();
    void clear();

private:
    static json record(qint64 line, const char *cls, const char *message, json status = nullptr,
                       json endpoint = nullptr, int attempts = 1);
    int rowOf(const QString &cls, const QString &message) const;

    std::unique_ptr<ErrorGroupsModel> m_model;
    std::unique_ptr<QAbstractItemModelTester> m_tester;
};

json tst_ErrorGroupsModel::record(qint64 line, const char *cls, const char *message, json status,
                                  json endpoint, int attempts)
{
    return json{{"custom_id", "req-" + std::to_string(line)},
                {"line", line},
                {"input", json::object()},
                {"error", message},
                {"error_class", cls},
                {"status", status},
                {"attempts", attempts},
                {"endpoint", endpoint}};
}

int tst_ErrorGroupsModel::rowOf(const QString &cls, const QString &message) const
{
    for (int row = 0; row < m_model->rowCount(); ++row) {
        if (m_model->index(row, ErrorGroupsModel::Class).data().toString() == cls &&
            m_model->index(row, ErrorGroupsModel::Message).data().toString() == message) {
            return row;
        }
    }
    return -1;
}

void tst_ErrorGroupsModel::init()
{
    m_model = std::make_unique<ErrorGroupsModel>();
    m_tester = std::make_unique<QAbstractItemModelTester>(
        m_model.get(), QAbstractItemModelTester::FailureReportingMode::QtTest);
}

void tst_ErrorGroupsModel::cleanup()
{
    m_tester.reset();
    m_model.reset();
}

void tst_ErrorGroupsModel::groupsByClassAndMessage()
{
    m_model->addRecord(record(1, "server", "HTTP 500: boom", 500, "a", 3));
    m_model->addRecord(record(2, "timeout", "attempt deadline of 120 s passed"));
    m_model->addRecord(record(3, "server", "HTTP 500: boom", 500, "b", 3));
    m_model->addRecord(record(4, "server", "HTTP 500: boom", 500, "a", 3));
    m_model->addRecord(record(5, "timeout", "attempt deadline of 120 s passed"));

    QCOMPARE(m_model->groupCount(), 2);
    QCOMPARE(m_model->recordCount(), 5);
    QCOMPARE(m_model->rowCount(), 2);
    QCOMPARE(m_model->columnCount(), 3);

    QCOMPARE(m_model->index(0, ErrorGroupsModel::Class).data().toString(), QStringLiteral("server"));
    QCOMPARE(m_model->index(0, ErrorGroupsModel::Message).data().toString(),
             QStringLiteral("HTTP 500: boom"));
    QCOMPARE(m_model->index(0, ErrorGroupsModel::Count).data().toInt(), 3);
    QCOMPARE(m_model->rowCount(m_model->index(0, 0)), 3);

    QCOMPARE(m_model->index(1, ErrorGroupsModel::Class).data().toString(), QStringLiteral("timeout"));
    QCOMPARE(m_model->index(1, ErrorGroupsModel::Message).data().toString(),
             QStringLiteral("attempt deadline of N s passed"));
    QCOMPARE(m_model->index(1, ErrorGroupsModel::Count).data().toInt(), 2);
    QCOMPARE(m_model->rowCount(m_model->index(1, 0)), 2);
}

void tst_ErrorGroupsModel::normalisation_data()
{
    QTest::addColumn<QString>("first");
    QTest::addColumn<QString>("second");
    QTest::addColumn<bool>("merged");
    QTest::addColumn<QString>("shown"); // the first group's message

    QTest::newRow("column numbers")
        << QStringLiteral("invalid JSON: syntax error at column 12 (unexpected '}')")
        << QStringLiteral("invalid JSON: syntax error at column 7 (unexpected '}')") << true
        << QStringLiteral("invalid JSON: syntax error at column N (unexpected '}')");
    QTest::newRow("file:line prefix")
        << QStringLiteral("req.jsonl:12: invalid JSON: syntax error at column 3 (not a JSON value)")
        << QStringLiteral("req.jsonl:4031: invalid JSON: syntax error at column 3 (not a JSON value)") << true
        << QStringLiteral("invalid JSON: syntax error at column N (not a JSON value)");
    QTest::newRow("file:line:column prefix")
        << QStringLiteral("/data/in put.jsonl:1:2: oops") << QStringLiteral("/data/in put.jsonl:9:9: oops")
        << true << QStringLiteral("/data/in put.jsonl:N:N: oops");
    QTest::newRow("duplicate id")
        << QStringLiteral("in.jsonl:9: duplicate custom_id \"a-1\" (first seen on line 3)")
        << QStringLiteral("in.jsonl:20: duplicate custom_id \"zz\" (first seen on line 11)") << true
        << QStringLiteral("duplicate custom_id \"…\" (first seen on line N)");
    QTest::newRow("line length")
        << QStringLiteral("in.jsonl:2: line is 2000000 bytes, over the limit of 1048576 bytes")
        << QStringLiteral("in.jsonl:7: line is 3500123 bytes, over the limit of 1048576 bytes") << true
        << QStringLiteral("line is N bytes, over the limit of N bytes");
    QTest::newRow("durations with units")
        << QStringLiteral("Please try again in 20s.") << QStringLiteral("Please try again in 1.5s.") << true
        << QStringLiteral("Please try again in Ns.");
    QTest::newRow("http status kept")
        << QStringLiteral("HTTP 500: internal") << QStringLiteral("HTTP 502: internal") << false
        << QStringLiteral("HTTP 500: internal");
    QTest::newRow("numbers in words kept")
        << QStringLiteral("model gpt-4o not found") << QStringLiteral("model gpt-5o not found") << false
        << QStringLiteral("model gpt-4o not found");
    QTest::newRow("different text") << QStringLiteral("connection refused")
                                    << QStringLiteral("host not found") << false
                                    << QStringLiteral("connection refused");
}

void tst_ErrorGroupsModel::normalisation()
{
    QFETCH(QString, first);
    QFETCH(QString, second);
    QFETCH(bool, merged);
    QFETCH(QString, shown);

    json a = record(1, "invalid_input", "");
    a["error"] = first.toStdString();
    json b = record(2, "invalid_input", "");
    b["error"] = second.toStdString();
    m_model->addRecord(a);
    m_model->addRecord(b);
    QCOMPARE(m_model->groupCount(), merged ? 1 : 2);
    QCOMPARE(m_model->index(0, ErrorGroupsModel::Message).data().toString(), shown);
    QCOMPARE(m_model->recordCount(), 2);
    // The raw message stays reachable on the record.
    QCOMPARE(m_model->index(0, 0, m_model->index(0, 0)).data(Qt::ToolTipRole).toString(), first);
}

void tst_ErrorGroupsModel::sameMessageDifferentClass()
{
    m_model->addRecord(record(1, "server", "HTTP 503: busy", 503));
    m_model->addRecord(record(2, "overloaded", "HTTP 503: busy", 503));
    QCOMPARE(m_model->groupCount(), 2);
}

void tst_ErrorGroupsModel::sortedByCount()
{
    QSignalSpy moved(m_model.get(), &QAbstractItemModel::rowsMoved);
    QSignalSpy reset(m_model.get(), &QAbstractItemModel::modelReset);
    m_model->addRecord(record(1, "client", "HTTP 400: bad"));
    m_model->addRecord(record(2, "server", "HTTP 500: boom"));
    m_model->addRecord(record(3, "timeout", "deadline passed"));
    QCOMPARE(rowOf(QStringLiteral("client"), QStringLiteral("HTTP 400: bad")), 0);
    QCOMPARE(moved.count(), 0);

    const QPersistentModelIndex clientChild = m_model->index(0, 0, m_model->index(0, 0));
    const QPersistentModelIndex timeoutGroup = m_model->index(2, 0);

    m_model->addRecord(record(4, "timeout", "deadline passed"));
    QCOMPARE(moved.count(), 1);
    QCOMPARE(m_model->index(0, ErrorGroupsModel::Class).data().toString(), QStringLiteral("timeout"));
    QCOMPARE(timeoutGroup.row(), 0);
    QVERIFY(clientChild.isValid());
    QCOMPARE(clientChild.parent().row(), 1);
    QCOMPARE(clientChild.data(ErrorGroupsModel::LineRole).toLongLong(), 1);

    m_model->addRecord(record(5, "server", "HTTP 500: boom"));
    m_model->addRecord(record(6, "server", "HTTP 500: boom"));
    // Ties keep first-seen order; server (3) > timeout (2) > client (1).
    const QStringList expected = {QStringLiteral("server"), QStringLiteral("timeout"),
                                  QStringLiteral("client")};
    for (int row = 0; row < expected.size(); ++row) {
        QCOMPARE(m_model->index(row, ErrorGroupsModel::Class).data().toString(), expected.at(row));
    }
    for (int row = 1; row < m_model->rowCount(); ++row) {
        QVERIFY(m_model->index(row - 1, ErrorGroupsModel::Count).data().toInt() >=
                m_model->index(row, ErrorGroupsModel::Count).data().toInt());
    }
    QCOMPARE(clientChild.parent().row(), 2);
    QCOMPARE(reset.count(), 0);
}

void tst_ErrorGroupsModel::childRows()
{
    m_model->addRecord(record(17, "server", "HTTP 500: boom", 500, "ep-a", 3));
    m_model->addRecord(record(42, "server", "HTTP 500: boom", nullptr, nullptr, 1));
    const QModelIndex group = m_model->index(0, 0);
    QVERIFY(!group.data(ErrorGroupsModel::LineRole).isValid());

    const QModelIndex first = m_model->index(0, ErrorGroupsModel::Class, group);
    QCOMPARE(first.data(ErrorGroupsModel::LineRole).toLongLong(), 17);
    QCOMPARE(first.data().toLongLong(), 17);
    QCOMPARE(m_model->index(0, ErrorGroupsModel::Message, group).data().toString(),
             QStringLiteral("req-17 · ep-a · 3 attempts · HTTP 500"));
    QCOMPARE(m_model->index(0, ErrorGroupsModel::Count, group).data().toString(), QString());
    QCOMPARE(
        m_model->index(0, ErrorGroupsModel::Message, group).data(ErrorGroupsModel::LineRole).toLongLong(),
        17);

    QCOMPARE(m_model->index(1, 0, group).data(ErrorGroupsModel::LineRole).toLongLong(), 42);
    QCOMPARE(m_model->index(1, ErrorGroupsModel::Message, group).data().toString(),
             QStringLiteral("req-42 · no endpoint · 1 attempt · no status"));
    QCOMPARE(m_model->rowCount(first), 0);
    QCOMPARE(first.parent(), group);
}

void tst_ErrorGroupsModel::malformedRecordFields()
{
    m_model->addRecord(json::array());
    QCOMPARE(m_model->groupCount(), 0);
    m_model->addRecord(json{{"line", "seven"}, {"error", 5}});
    QCOMPARE(m_model->groupCount(), 1);
    QCOMPARE(m_model->index(0, ErrorGroupsModel::Class).data().toString(), QStringLiteral("unknown"));
    QCOMPARE(m_model->index(0, 0, m_model->index(0, 0)).data(ErrorGroupsModel::LineRole).toLongLong(), 0);
}

void tst_ErrorGroupsModel::loadFile()
{
    m_model->addRecord(record(99, "client", "stale"));

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("errors.jsonl"));
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    const json lines[] = {
        record(3, "invalid_input", "in.jsonl:3: invalid JSON: syntax error at column 5 (unexpected 'x')"),
        record(8, "invalid_input", "in.jsonl:8: invalid JSON: syntax error at column 9 (unexpected 'x')"),
        record(10, "rate_limited", "HTTP 429: slow down", 429, "a", 5),
    };
    file.write(QByteArray::fromStdString(lines[0].dump()) + "\n");
    file.write("\n");
    file.write("{not json\n");
    file.write(QByteArray::fromStdString(lines[1].dump()) + "\n");
    file.write(QByteArray::fromStdString(lines[2].dump())); // no final newline
    file.close();

    QSignalSpy reset(m_model.get(), &QAbstractItemModel::modelReset);
    QString error;
    QVERIFY(m_model->loadFile(path, &error));
    QCOMPARE(reset.count(), 1);
    QVERIFY2(error.contains(QStringLiteral("1 of 4")), qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral("line 3")), qPrintable(error));
    QCOMPARE(m_model->groupCount(), 2);
    QCOMPARE(m_model->recordCount(), 3);
    QCOMPARE(m_model->index(0, ErrorGroupsModel::Class).data().toString(), QStringLiteral("invalid_input"));
    QCOMPARE(m_model->index(0, ErrorGroupsModel::Count).data().toInt(), 2);
    QCOMPARE(m_model->index(1, 0, m_model->index(0, 0)).data(ErrorGroupsModel::LineRole).toLongLong(), 8);
    QCOMPARE(rowOf(QStringLiteral("client"), QStringLiteral("stale")), -1);

    // A clean file clears the error text.
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    file.write(QByteArray::fromStdString(lines[2].dump()) + "\n");
    file.close();
    QVERIFY(m_model->loadFile(path, &error));
    QVERIFY(error.isEmpty());
    QCOMPARE(m_model->recordCount(), 1);
}

void tst_ErrorGroupsModel::loadFileMissing()
{
    m_model->addRecord(record(1, "client", "kept"));
    QString error;
    QVERIFY(!m_model->loadFile(QStringLiteral("/nonexistent/errors.jsonl"), &error));
    QVERIFY(error.contains(QStringLiteral("/nonexistent/errors.jsonl")));
    QCOMPARE(m_model->recordCount(), 1);
}

void tst_ErrorGroupsModel::clear()
{
    m_model->addRecord(record(1, "client", "a"));
    m_model->addRecord(record(2, "server", "b"));
    QSignalSpy reset(m_model.get(), &QAbstractItemModel::modelReset);
    m_model->clear();
    QCOMPARE(reset.count(), 1);
    QCOMPARE(m_model->groupCount(), 0);
    QCOMPARE(m_model->recordCount(), 0);
    QCOMPARE(m_model->rowCount(), 0);
    // Grouping starts afresh.
    m_model->addRecord(record(3, "client", "a"));
    QCOMPARE(m_model->groupCount(), 1);
    QCOMPARE(m_model->index(0, ErrorGroupsModel::Count).data().toInt(), 1);
}

QTEST_GUILESS_MAIN(tst_ErrorGroupsModel)
#include "tst_errorgroupsmodel.moc"
