print("memo-infer")
