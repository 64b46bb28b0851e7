"""The outbox worker: each row once, in order per lead, retried until the platform takes it.

Generic over the platform: a `Transport` (`interface`; Slack's is `bot.slack.transport`) says
where a row goes and sends it; the worker (`worker.Courier`) leases rows, keeps the
transport's pace per conversation (`pacing`), holds a method the platform asks it to wait
for, backs off, parks rows while the platform is down (`outages`) and sends the ones it will
not take to the dead letters.

The pace is kept at the source. The paced method (Slack's `chat.postMessage`) goes to each
conversation at the transport's rate, and a message that has to wait for its conversation is
handed back to the queue with `next_attempt_at` set to its slot, so the worker thread never
sleeps on one conversation while messages for others are due. Urgent messages go first: of
the due rows, the smallest `priority` is taken first, and one that finds a conversation's
slots held by less urgent messages (a bulk import's cards) takes the first of them, each of
those moving one slot later. A 429 holds only its method until `Retry-After`. Both are waits
in the database, not in the thread.

A 5xx or a dropped connection means the platform is not answering that method. Its messages
are parked, not tried one after another with a growing backoff: at most once a second one of
them, in turn, tries again, and the moment the platform answers, every parked message is due
at once, so delivery resumes within a second or two of its return. An outage is not the
message's fault: only the try that found the platform failing counts towards a message's
attempts, so however long an outage lasts, it walks no message to the dead letters.

Exactly once: a row is leased to one worker, the outcome is written as soon as the platform
answers, and a worker never starts a request on a row whose lease could run out before the
request's timeout. Finding a message an earlier attempt sent is the transport's part.
"""
