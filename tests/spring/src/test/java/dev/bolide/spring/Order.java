package dev.bolide.spring;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** The POJO an application sends: RocketMQTemplate turns it into JSON (Jackson), the listener back. */
public class Order {
    private String id;
    private String how;
    private int seq;
    private long amountCents;
    private String note;
    private List<String> items = new ArrayList<>();

    public Order() {}

    public Order(String id, String how, int seq) {
        this.id = id;
        this.how = how;
        this.seq = seq;
        this.amountCents = 1999L * (seq + 1);
        // Non-ASCII text: the starter encodes bodies as UTF-8 (its charset) on both ends.
        this.note = "订单 " + id + " ✓ \"quoted\" \\ tab\t";
        this.items = List.of("item-a-" + seq, "item-b-" + seq);
    }

    public String getId() { return id; }
    public void setId(String id) { this.id = id; }
    public String getHow() { return how; }
    public void setHow(String how) { this.how = how; }
    public int getSeq() { return seq; }
    public void setSeq(int seq) { this.seq = seq; }
    public long getAmountCents() { return amountCents; }
    public void setAmountCents(long amountCents) { this.amountCents = amountCents; }
    public String getNote() { return note; }
    public void setNote(String note) { this.note = note; }
    public List<String> getItems() { return items; }
    public void setItems(List<String> items) { this.items = items; }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Order)) {
            return false;
        }
        Order x = (Order) o;
        return seq == x.seq && amountCents == x.amountCents && Objects.equals(id, x.id) && Objects.equals(how, x.how)
            && Objects.equals(note, x.note) && Objects.equals(items, x.items);
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, how, seq, amountCents, note, items);
    }

    @Override
    public String toString() {
        return "Order{id=" + id + ", how=" + how + ", seq=" + seq + ", amountCents=" + amountCents + ", note=" + note
            + ", items=" + items + "}";
    }
}
