print("memo-train")
