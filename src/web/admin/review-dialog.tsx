import { useState } from "preact/hooks";
import { sum, tokens } from "../lib/format";
import type { RewardView } from "../lib/types";
import { Dialog } from "../lib/ui";

export type Decision = "approve" | "reject";

/**
 * Confirms a decision on the chosen rewards and asks for its note (approve) or reason (reject). The
 * note is kept until a decision on it succeeds (`onDecide` resolves true).
 */
export function ReviewDialog(props: {
  decision: Decision | null;
  chosen: RewardView[];
  onClose: () => void;
  onDecide: (decision: Decision, note: string) => Promise<boolean>;
}) {
  const { decision: dialog, chosen } = props;
  const [note, setNote] = useState("");
  const chosenWei = sum(chosen.map((reward) => reward.amountWei));
  return (
    <Dialog
      open={dialog !== null}
      title={
        dialog === "approve"
          ? `Approve ${chosen.length} reward${chosen.length === 1 ? "" : "s"}?`
          : `Reject ${chosen.length} reward${chosen.length === 1 ? "" : "s"}?`
      }
      onClose={props.onClose}
    >
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (!dialog) return;
          void props.onDecide(dialog, note).then((decided) => {
            if (decided) setNote("");
          });
        }}
      >
        <p>
          {dialog === "approve"
            ? "Approved rewards are minted in the next batch (or now, from Minting)."
            : "Rejected rewards are never minted. The reason is kept in the audit log."}{" "}
          Total <strong>{tokens(chosenWei)}</strong> for {chosen.length} order
          {chosen.length === 1 ? "" : "s"}.
          {chosen.some((reward) => (reward.fraudSignals ?? []).length) ? (
            <span class="alert alert-warn" style={{ display: "block", marginTop: "0.5rem" }}>
              Some selected rewards carry fraud signals.
            </span>
          ) : null}
        </p>
        <label for="review-note">{dialog === "approve" ? "Note (optional)" : "Reason (required)"}</label>
        <textarea
          id="review-note"
          value={note}
          required={dialog === "reject"}
          onInput={(event) => setNote((event.target as HTMLTextAreaElement).value)}
        />
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={props.onClose}>
            Cancel
          </button>
          <button
            type="submit"
            class={dialog === "approve" ? "btn btn-ok" : "btn btn-danger"}
            disabled={dialog === "reject" && !note.trim()}
          >
            {dialog === "approve" ? "Approve" : "Reject"} {chosen.length}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
