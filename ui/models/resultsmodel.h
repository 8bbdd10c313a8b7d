#pragma once

#include <QAbstractTableModel>
#include <QByteArray>
#include <QStringList>

#include <atomic>
#include <vector>

namespace Sluice::Gui {

/// The records of a run's results and errors files, one row per record, sorted by input line, for the
/// results browser. The index (built on a worker thread by build()) keeps a few numbers per record and
/// its place in the file; a record's full text is read from disk only when it is opened.
class ResultsModel : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column { Line, CustomId, Outcome, Endpoint, Attempts, Latency, Status, ColumnCount };
    enum class Filter { All, Succeeded, Failed };

    struct Row
    {
        qint64 line = 0;
        qint64 offset = 0;    ///< of the record in its file
        quint32 idOffset = 0; ///< of its custom_id in Index::ids
        quint32 idLength = 0;
        float latencyMs = -1; ///< -1 when the record has none
        qint16 status = 0;    ///< HTTP status, 0 when none arrived
        quint16 attempts = 0;
        quint16 endpoint = 0; ///< into Index::endpoints; 0 is "" (never sent)
        quint8 outcome = 0;   ///< 0 = succeeded, else into Index::classes
        bool error = false;   ///< in the errors file
    };
    struct Index
    {
        QString resultsPath, errorsPath, requestsPath;
        std::vector<Row> rows;
        QByteArray ids; ///< every custom_id, UTF-8, one after the other
        QStringList endpoints{QString()};
        QStringList classes{QStringLiteral("succeeded")};
        std::vector<qint64> inputOffsets; ///< offset of input line 1 + k × InputStride
        qint64 unreadable = 0;            ///< lines of the outputs that are not records
        QString error;
    };
    static constexpr qint64 InputStride = 1024;

    /// Reads both outputs (either may be missing) and notes where every InputStride-th line of the
    /// request file starts. Any thread; polls `cancel`.
    static Index build(const QString &resultsPath, const QString &errorsPath, const QString &requestsPath,
                       const std::atomic_bool *cancel = nullptr);

    explicit ResultsModel(QObject *parent = nullptr);

    void setIndex(Index index);
    void clear();
    const Index &records() const { return m_index; }
    void setFilter(Filter filter);
    Filter filter() const { return m_filter; }

    /// The visible row of the record for input `line`, or -1.
    int rowForLine(qint64 line) const;
    /// Visible rows whose custom_id contains `text` (case-sensitive), at most `limit`.
    QList<int> rowsForCustomId(const QString &text, int limit = 1000) const;
    const Row &rowAt(int visibleRow) const;
    QString customId(const Row &row) const;
    QString outcomeText(const Row &row) const;
    /// The record's JSON line as stored, read from its file.
    QByteArray recordText(int visibleRow) const;
    /// Input line `line` of the request file, read from disk ("" when it cannot be read).
    QByteArray inputLine(qint64 line) const;

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    void applyFilter();

    Index m_index;
    Filter m_filter = Filter::All;
    std::vector<int> m_visible; ///< index rows shown, in line order
};

} // namespace Sluice::Gui
