/**
 * The uses waiting for a thread, first in first out. A use that stops waiting (aborted, timed out)
 * is settled where it stands and skipped when its turn comes, so leaving costs nothing; `size`
 * counts only those still waiting, which is what `maxQueue` bounds.
 */
import type { Task } from './thread.js';

/** A FIFO of waiting uses; see the module comment. */
export class TaskQueue<T extends Pick<Task, 'state'> = Task> {
  #items: T[] = [];
  #head = 0;
  #size = 0;

  /** Uses waiting now. */
  get size(): number {
    return this.#size;
  }

  push(task: T): void {
    this.#items.push(task);
    this.#size++;
  }

  /** Records that a queued use stopped waiting (it is settled; `shift` will skip it). */
  left(): void {
    this.#size--;
  }

  /** The next use still waiting, or undefined. */
  shift(): T | undefined {
    while (this.#head < this.#items.length) {
      const task = this.#items[this.#head++]!;
      if (task.state === 'queued') {
        this.#size--;
        this.#compact();
        return task;
      }
    }
    this.#compact();
    return undefined;
  }

  /** Takes every use still waiting. */
  drain(): T[] {
    const waiting = this.#items.slice(this.#head).filter((task) => task.state === 'queued');
    this.#items = [];
    this.#head = 0;
    this.#size = 0;
    return waiting;
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
