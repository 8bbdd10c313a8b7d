#pragma once

#include "models/resultsmodel.h"

#include <QWidget>

#include <atomic>
#include <memory>

class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QTableView;

namespace Sluice::Gui {

/// "What happened to line N?": the run's records, searchable by line number or custom_id. Opening one
/// shows the request (its input line), the reply or the error with its reason, the attempts, the
/// endpoint and the latency, and copies it. The files are indexed on a worker thread.
class ResultsBrowser : public QWidget
{
    Q_OBJECT

public:
    explicit ResultsBrowser(QWidget *parent = nullptr);
    ~ResultsBrowser() override;

    /// Indexes the outputs of a run (loaded() when done); the request file gives each record's request.
    void load(const QString &resultsPath, const QString &errorsPath, const QString &requestsPath);
    void clear();
    bool isLoading() const { return m_loading; }
    ResultsModel *model() const { return m_model; }

    /// Finds a line number or, failing that, custom_ids containing `text`; selects and opens the first
    /// match. False (and a message in the browser) when nothing matches.
    bool search(const QString &text);
    /// Opens the record of visible row `row` in the detail pane.
    void open(int row);
    /// What the detail pane shows.
    QString detailText() const;
    /// Copies the open record (its details and the record as written) to the clipboard.
    void copyOpen() const;

Q_SIGNALS:
    void loaded();

private:
    void handleLoaded(const ResultsModel::Index &index, quint64 generation);

    ResultsModel *m_model = nullptr;
    QLineEdit *m_search = nullptr;
    QComboBox *m_filter = nullptr;
    QLabel *m_status = nullptr;
    QTableView *m_table = nullptr;
    QPlainTextEdit *m_detail = nullptr;
    QByteArray m_openRecord;
    bool m_loading = false;
    quint64 m_generation = 0;
    std::shared_ptr<std::atomic_bool> m_cancel;
};

} // namespace Sluice::Gui
