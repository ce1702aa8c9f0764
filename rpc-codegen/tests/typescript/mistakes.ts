// Mistakes tsc must catch: each line that ends in an `error:` comment.
import { Client } from "./calculator";

export async function mistakes(client: Client): Promise<void> {
  await client.subtract("42", 23); // error: an argument of the wrong type
  const greeting: number = await client.greet("Ann"); // error: a result of the wrong type
  await client.sutract(42, 23); // error: no such method
  await client.area({ kind: "triangle", side: 3 }); // error: no such shape
  console.log(greeting);
}
